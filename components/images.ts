import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { layoutBuildArgs } from "../configs/layout";
import { childOptions } from "./docker";

/** The images the stack builds, one folder each under images/. */
export const IMAGE_ROLES = [
    "etcd",
    "patroni",
    "haproxy",
    "barman",
    "exporter",
    "prometheus",
    "alertmanager",
    "sentinel",
    "volume-metrics",
] as const;
export type ImageRole = (typeof IMAGE_ROLES)[number];

/** Where the Dockerfiles live, relative to this file so it works from any working directory. */
export const IMAGES_DIR = path.resolve(__dirname, "..", "images");

export interface StackImagesArgs {
    /** Stack name: image tags carry it so destroying one stack never removes another's image. */
    stack: string;
    /** Debian bookworm base image every Dockerfile builds FROM (build arg BASE_IMAGE). */
    baseImage: string;
    /** Which images to build (the optional ones only when enabled). */
    roles: readonly ImageRole[];
}

/**
 * Builds the stack's images locally (never pushed). Containers reference `repoDigest`, the local image
 * ID, so a changed Dockerfile replaces the containers that use it and nothing else.
 */
export class StackImages extends pulumi.ComponentResource {
    /** Image reference per built role, for Container.image. */
    public readonly refs: Partial<Record<ImageRole, pulumi.Output<string>>>;

    constructor(name: string, args: StackImagesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:StackImages", name, {}, opts);
        const refs: Partial<Record<ImageRole, pulumi.Output<string>>> = {};
        for (const role of args.roles) {
            const image = new docker.Image(
                `${name}-${role}`,
                {
                    imageName: `patroni-ha-${role}:${args.stack}`,
                    skipPush: true,
                    build: {
                        // The whole images/ folder is the context, so images can share scripts from images/common.
                        context: IMAGES_DIR,
                        dockerfile: path.join(IMAGES_DIR, role, "Dockerfile"),
                        args: { BASE_IMAGE: args.baseImage, ...layoutBuildArgs(role) },
                    },
                },
                childOptions(this, `images-${role}`),
            );
            refs[role] = image.repoDigest;
        }
        this.refs = refs;
        this.registerOutputs({ refs });
    }
}
