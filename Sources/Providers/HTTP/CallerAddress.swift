import CloudcCore
import Foundation

/// Finds the caller's public IPv4 address, to limit SSH access to it by default.
public enum CallerAddress {
    public static let defaultServiceURL = "https://checkip.amazonaws.com"

    /// The caller's address as a /32 CIDR, or an error saying to set `ssh_from`.
    public static func cidr(transport: HTTPTransport, serviceURL: String, template: String) async throws -> String {
        let fix = "set ssh_from: in clusters.\(template) to your address (e.g. 203.0.113.7/32) or your network's CIDR"
        guard let url = URL(string: serviceURL) else {
            throw CloudcError(.config, "cannot find your public address: \(serviceURL) is not a URL", fix: fix)
        }
        let text: String
        do {
            let response = try await transport.send(HTTPRequest(method: "GET", url: url))
            guard response.status == 200 else {
                throw CloudcError(.unavailable, "cannot find your public address: \(serviceURL) answered HTTP \(response.status)", fix: fix)
            }
            text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        } catch let error as CloudcError {
            throw error
        } catch {
            throw CloudcError(.unavailable, "cannot find your public address to limit SSH access to it (\(error))", fix: fix)
        }
        guard isIPv4(text) else {
            throw CloudcError(.unavailable, "cannot find your public address: \(serviceURL) answered something that is not an IPv4 address", fix: fix)
        }
        return text + "/32"
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isNumber) && (Int(part) ?? 256) <= 255
        }
    }
}
