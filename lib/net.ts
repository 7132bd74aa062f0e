// Host and URL text: an IPv6 host is bracketed wherever a port follows it.

/** "host:port", with brackets for an IPv6 host ("[::1]:8001"). */
export function hostPort(host: string, port: number): string {
    return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** "http://host:port" plus an optional path, IPv6-safe. */
export function httpUrl(host: string, port: number, path = ""): string {
    return `http://${hostPort(host, port)}${path}`;
}

/** "https://host:port" plus an optional path, IPv6-safe. */
export function httpsUrl(host: string, port: number, path = ""): string {
    return `https://${hostPort(host, port)}${path}`;
}

/** postgresql:// URI with user, password and database URL-encoded, and optional parameters (`?sslmode=...`). */
export function postgresUri(
    user: string,
    password: string,
    endpoint: string,
    database: string,
    params: Record<string, string> = {},
): string {
    const query = new URLSearchParams(params).toString();
    return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${endpoint}/${encodeURIComponent(database)}${query ? `?${query}` : ""}`;
}
