/// `~` in paths the user writes (config values, flags, credential files): one rule for all.
public enum HomePath {
    /// `~` and `~/…` become `home` (without a doubled `/`); other paths are left as written,
    /// `~user/…` included, which cloudc does not resolve (see `isOtherUsers`).
    public static func expand(_ path: String, home: String) -> String {
        let base = home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        if path == "~" { return base }
        if path.hasPrefix("~/") { return base + path.dropFirst() }
        return path
    }

    /// `~user/…`: another user's home, which cloudc does not look up.
    public static func isOtherUsers(_ path: String) -> Bool {
        path.hasPrefix("~") && path != "~" && !path.hasPrefix("~/")
    }
}
