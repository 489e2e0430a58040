/// An error a user reads: what went wrong, and how to fix it.
///
/// Every failing call in cloudc ends up as one of these. `message` says what
/// happened (naming the file, node, cloud call, …), `fix` says what to do about it.
/// Neither may contain a secret: callers pass redacted text only.
public struct CloudcError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable, Codable {
        case config            // the config file is wrong
        case usage             // the command line is wrong
        case state             // a state file is unreadable or inconsistent
        case stateLocked       // another cloudc holds the cluster's lock
        case notFound          // no such cluster / template / node
        case credentials       // credentials missing or refused
        case permission        // authenticated but not allowed
        case capacity          // the cloud has no capacity for the request
        case quota             // an account limit was hit
        case invalidRequest    // the cloud rejected the request's content
        case unavailable       // the cloud or network failed; retrying later may help
        case timeout           // waited too long for the cloud
        case io                // local file system
        case connection        // a node cannot be reached (SSH connect, handshake, authentication)
        case hostKey           // a node's host key differs from the one pinned on first contact
        case loginRefused      // a node's sshd refused the key for the user (on a young VM: not made yet)
        case remote            // a command on a node failed
        case unsupported       // this machine or provider cannot do it
        case internalError
    }

    public var code: Code
    public var message: String
    public var fix: String?
    /// A short, already-redacted description of the underlying cause.
    public var cause: String?

    public init(_ code: Code, _ message: String, fix: String? = nil, cause: String? = nil) {
        self.code = code
        self.message = message
        self.fix = fix
        self.cause = cause
    }

    public var description: String {
        var text = message
        if let cause, !cause.isEmpty { text += " (\(cause))" }
        if let fix, !fix.isEmpty { text += "\n  fix: \(fix)" }
        return text
    }
}

/// A secret value (a key, a password, a token). It never prints itself.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// `dump()` and reflection see nothing either.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
