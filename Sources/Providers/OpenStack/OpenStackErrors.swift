import CloudcCore

/// Turns OpenStack's refusals into one clear line for the user: which service and call,
/// its status and message, and what to do.
enum OpenStackErrorMapper {
    static func userError(_ error: Error, source: String) -> Error {
        if let error = error as? TransportError {
            return CloudcError(.unavailable, "cannot reach the OpenStack cloud (\(error.description))",
                               fix: "check your network (VPN?) and the catalog's endpoints, then run the command again (it resumes)")
        }
        guard let error = error as? OpenStackAPIError else { return error }
        let what = error.description
        if isQuota(error) {
            return CloudcError(.quota, what, fix: quotaFix)
        }
        switch error.status {
        case 401:
            return CloudcError(.credentials, what,
                               fix: "the token from \(source) was refused: check the credentials (a new application credential, or the password) and run the command again")
        case 403:
            return CloudcError(.permission, what,
                               fix: "the project of \(source) may not do this: ask the cloud's admins for the member role, or use another project")
        case 404:
            return CloudcError(.notFound, what, fix: "check flavor:, image:, network: and floating_ip_network: in the config: the resource the message names does not exist")
        case 409:
            return CloudcError(.invalidRequest, what, fix: "run the command again (it resumes and finds what exists)")
        case 429, 500...:
            return CloudcError(.unavailable, what, fix: "the cloud is failing or throttling; wait a little and run the command again (it resumes)")
        default:
            return CloudcError(.invalidRequest, what,
                               fix: "check the template's values (flavor, image, disk_gb, network, availability_zone) for this request; run the command again after fixing it (it resumes)")
        }
    }

    /// Nova: 403 `forbidden` or 413 `overLimit` with "Quota exceeded …"; Neutron: 409 `OverQuota`.
    static func isQuota(_ error: OpenStackAPIError) -> Bool {
        if error.status == 413 { return true }
        if error.kind == "OverQuota" { return true }
        return (error.status == 403 || error.status == 409) && error.message.lowercased().contains("quota")
    }

    static let quotaFix = "a quota of your project is reached (openstack quota show; openstack limits show --absolute): ask the cloud's admins for more, use fewer or smaller nodes, or stop another cluster"

    /// Nova's fault texts that mean "no room now" rather than "wrong request".
    static func isCapacity(fault: String) -> Bool {
        let text = fault.lowercased()
        return text.contains("no valid host") || text.contains("not enough hosts") || text.contains("insufficient")
    }
}
