// configs/layout.ts reaches the images as build args: each Dockerfile declares exactly the args it is given.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { layoutBuildArgs, PG_DATA, PG_PORT, WAL_SHARE, WALSHARE_GID } from "../../../configs/layout";
import { IMAGE_ROLES, IMAGES_DIR } from "../../../components/images";

/** The ARG names a Dockerfile declares after FROM (BASE_IMAGE and its own package list are not layout). */
function declaredArgs(role: string): string[] {
    const text = fs.readFileSync(path.join(IMAGES_DIR, role, "Dockerfile"), "utf8");
    const afterFrom = text.slice(text.search(/^FROM /m));
    return [...afterFrom.matchAll(/^ARG (.+)$/gm)]
        .flatMap(m => (/^\w+=/.test(m[1]) ? [m[1].split("=")[0]] : m[1].split(/\s+/)))
        .filter(a => a !== "TRIXIE_PACKAGES");
}

describe("configs/layout: the images' paths, ports and ids", () => {
    for (const role of IMAGE_ROLES) {
        it(`${role}: its Dockerfile declares exactly the layout args the stack passes (no second copy of a value)`, () => {
            assert.deepEqual(declaredArgs(role).sort(), Object.keys(layoutBuildArgs(role)).sort());
        });
    }

    it("Dockerfiles and image scripts repeat no layout value", () => {
        const files = IMAGE_ROLES.flatMap(r => fs.readdirSync(path.join(IMAGES_DIR, r)).map(f => path.join(IMAGES_DIR, r, f)));
        files.push(path.join(IMAGES_DIR, "common", "ssh-start.sh"));
        for (const file of files.filter(f => !f.endsWith(".yaml"))) {
            const text = fs
                .readFileSync(file, "utf8")
                .split("\n")
                .filter(l => !/^\s*#/.test(l))
                .join("\n");
            for (const value of [
                PG_DATA,
                WAL_SHARE,
                String(WALSHARE_GID),
                `-p ${PG_PORT}`,
                "/data/pg-backup",
                "/etc/ssh-ha",
                "/run/ssh-ha",
            ]) {
                assert.ok(!text.includes(value), `${path.relative(IMAGES_DIR, file)} repeats ${value}`);
            }
        }
    });
});
