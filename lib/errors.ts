// Error text for messages: one place decides how an unknown thrown value reads.

/** The message of an Error, or the value as text for anything else thrown. */
export function errorText(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}
