// What a second `pulumi up` does to the DCS configuration: run the program with the new config, diff the
// PatroniDynamicConfig inputs against the deployed ones, and call the provider's update.
import { dynamicConfigProvider } from "../../components/patroniDynamicConfig";
import { DynamicConfigState } from "../../components/dcsClient";
import { byType, runProgram, unwrap } from "./program";

/**
 * The dynamic-config inputs the program declares for a config, as a second `pulumi up` would compute
 * them: generated passwords keep the values they have in state (the deployed ones).
 */
export async function plannedDynamicConfig(
    stack: string,
    config: Record<string, unknown>,
    deployed: DynamicConfigState,
): Promise<DynamicConfigState> {
    const run = await runProgram(config, stack);
    const dcs = byType(run, "pulumi-nodejs:dynamic:Resource").find(r => r.name.endsWith("-dcs-config"))!;
    const { __provider: _p, ...inputs } = unwrap(dcs.inputs) as Record<string, unknown>;
    // The generated values (the API password, the CA) are the deployed stack's: the mocks only name them.
    return {
        ...(inputs as unknown as DynamicConfigState),
        apiUser: deployed.apiUser,
        apiPassword: deployed.apiPassword,
        caCertificate: deployed.caCertificate,
    };
}

/** Diff and update as the engine would; returns whether anything changed and what would be replaced. */
export async function updateDynamicConfig(
    olds: DynamicConfigState,
    news: DynamicConfigState,
): Promise<{ changes: boolean; replaces: string[] }> {
    const diff = await dynamicConfigProvider.diff!("dcs", olds, news);
    if (diff.changes) {
        await dynamicConfigProvider.update!("dcs", olds, news);
    }
    return { changes: Boolean(diff.changes), replaces: diff.replaces ?? [] };
}
