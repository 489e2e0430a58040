/// How long a cluster may stay idle before it powers itself off: `30m`, `2h`, `1h30m`, or `off`.
public enum Autostop {
    /// Minutes; nil for `off`. Throws a usage error that shows the forms it takes.
    public static func minutes(_ text: String) throws -> Int? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "off" || text == "0" { return nil }
        var total = 0, number = "", parts = 0
        for character in text {
            if character.isASCII, character.isNumber {
                number.append(character)
            } else if character == "h" || character == "m", let value = Int(number), !number.isEmpty {
                total += character == "h" ? value * 60 : value
                number = ""
                parts += 1
            } else {
                throw invalid(text)
            }
        }
        guard number.isEmpty, parts > 0, total > 0, total <= 7 * 24 * 60 else { throw invalid(text) }
        return total
    }

    static func invalid(_ text: String) -> CloudcError {
        CloudcError(.usage, "'\(text)' is not an idle time for autostop",
                    fix: "give minutes or hours, such as 30m, 2h or 1h30m (at most a week), or off")
    }

    /// `30m`, `2h`, `1h30m`.
    public static func text(_ minutes: Int) -> String {
        minutes % 60 == 0 ? "\(minutes / 60)h" : minutes > 60 ? "\(minutes / 60)h\(minutes % 60)m" : "\(minutes)m"
    }
}
