import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Addresses as clouds report them, checked before cloudc records or writes them anywhere: a
/// cloud's answer (or anyone on the path of an `http://` endpoint) must not be able to put a
/// newline and an ssh_config line into the user's `~/.ssh/config` through a "HostName".
public enum IPAddress {
    /// The address in its canonical text form (`inet_ntop` of `inet_pton`), or nil when `text`
    /// is not exactly one IPv4 or IPv6 address.
    public static func canonical(_ text: String?) -> String? {
        guard let text, !text.isEmpty, text.utf8.count < 64, !text.utf8.contains(0),
              !text.contains(where: { $0.isWhitespace }) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            guard inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count)) != nil else { return nil }
            return String(cString: buffer)
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { return nil }
            return String(cString: buffer)
        }
        return nil
    }
}

/// Values cloudc writes into other programs' config files (ssh_config, an Ansible inventory):
/// a control character (a newline above all) would end the value and start a line of the
/// attacker's choosing.
public enum ConfigValueCheck {
    public static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" || $0 == "\u{85}" }
    }

    /// A login user cloudc passes to ssh and writes to ssh_config: letters, digits, `_`, `-`,
    /// `.` and `@` (domain accounts), not starting with `-` (ssh would read it as an option).
    public static func isLoginUser(_ user: String) -> Bool {
        guard let first = user.unicodeScalars.first, first != "-", first != ".", user.utf8.count <= 64 else { return false }
        return user.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.@".unicodeScalars.contains($0)) }
    }
}
