/// Percent-encoding for form bodies and query strings.
public enum FormEncoding {
    /// application/x-www-form-urlencoded as the AWS and Google SDKs send it: RFC 3986
    /// unreserved characters as they are, space as `+`, everything else percent-encoded.
    public static func form(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(encode($0.0, spaceAsPlus: true))=\(encode($0.1, spaceAsPlus: true))" }.joined(separator: "&")
    }

    /// A URL query: like `form`, but a space is `%20`.
    public static func query(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(encode($0.0, spaceAsPlus: false))=\(encode($0.1, spaceAsPlus: false))" }.joined(separator: "&")
    }

    /// Every byte but the RFC 3986 unreserved characters, percent-encoded.
    public static func encode(_ text: String, spaceAsPlus: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " ") where spaceAsPlus:
                out += "+"
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                 UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
