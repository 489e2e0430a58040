import CloudcCore

/// Turns Compute Engine's errors into one clear line for the user: which call failed,
/// Google's code and message, and what to do.
enum GCEErrorMapper {
    /// Operation error codes (and message fragments) that mean "no capacity in this zone now".
    static let capacityCodes: Set<String> = [
        "ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "RESOURCE_POOL_EXHAUSTED",
    ]

    static func isCapacity(code: String, message: String) -> Bool {
        capacityCodes.contains(code) || message.lowercased().contains("does not have enough resources")
    }

    static func isCapacity(_ error: GCEAPIError) -> Bool {
        isCapacity(code: error.reason ?? "", message: error.message)
    }

    static func userError(_ error: Error, credentialsSource: String, project: String) -> Error {
        if let error = error as? TransportError {
            return CloudcError(.unavailable, "cannot reach Compute Engine (\(error.description))",
                               fix: "check your network connection and the cloud's endpoint:, then run the command again (it resumes)")
        }
        guard let error = error as? GCEAPIError else { return error }
        let what = error.description
        let reason = error.reason ?? ""
        if isCapacity(error) {
            return CloudcError(.capacity, what, fix: capacityFix)
        }
        switch error.status {
        case 401:
            return CloudcError(.credentials, what,
                               fix: "Google refused the access token of \(credentialsSource): check that the key or sign-in is still valid (gcloud auth application-default login, or a new service-account key)")
        case 403 where error.isRetryable, 429:
            return CloudcError(.unavailable, what, fix: "Compute Engine is throttling requests; wait a minute and run the command again (it resumes)")
        case 403 where reason == "quotaExceeded" || reason == "QUOTA_EXCEEDED" || error.message.lowercased().contains("quota"):
            return CloudcError(.quota, what, fix: quotaFix(project))
        case 403 where reason == "accessNotConfigured" || error.message.contains("has not been used") || error.message.contains("is disabled"):
            return CloudcError(.permission, what,
                               fix: "enable the Compute Engine API for project \(project): gcloud services enable compute.googleapis.com --project \(project)")
        case 403:
            return CloudcError(.permission, what,
                               fix: "give \(credentialsSource) a role that allows this in project \(project) (e.g. roles/compute.instanceAdmin.v1 and roles/compute.securityAdmin), or check project:")
        case 404:
            return CloudcError(.notFound, what,
                               fix: "check project: (\(project)), zones:, flavor:, gpus: and image: in the config: the resource the message names does not exist")
        case 409:
            return CloudcError(.invalidRequest, what, fix: "run the command again (it resumes and finds what exists)")
        case 412:
            return CloudcError(.invalidRequest, what, fix: "something else changed the resource meanwhile; run the command again")
        case 500...:
            return CloudcError(.unavailable, what, fix: "Compute Engine is failing; wait a little and run the command again (it resumes)")
        default:
            return CloudcError(.invalidRequest, what,
                               fix: "check the template's values (flavor, gpus, image, disk_gb, network) for this request; run the command again after fixing it (it resumes)")
        }
    }

    /// A finished operation's error (`error.errors[0]`), as a user error.
    static func operationError(_ operation: GCEOperation, call: String, zone: String?, project: String) -> CloudcError {
        let first = operation.errors.first ?? GCEOperation.Failure(code: "UNKNOWN", message: "the operation failed")
        let place = zone.map { " in zone \($0)" } ?? ""
        let what = "GCE \(call)\(place) failed: \(first.code): \(first.message)"
        if isCapacity(code: first.code, message: first.message) {
            return CloudcError(.capacity, what, fix: capacityFix)
        }
        switch first.code {
        case "QUOTA_EXCEEDED":
            return CloudcError(.quota, what, fix: quotaFix(project))
        case "RESOURCE_NOT_FOUND", "NOT_FOUND":
            return CloudcError(.notFound, what, fix: "check flavor:, gpus:, image:, network: and subnetwork: for this zone")
        case "PERMISSIONS_ERROR", "FORBIDDEN", "PERMISSION_DENIED":
            return CloudcError(.permission, what, fix: "give the credentials a role that allows this in project \(project) (e.g. roles/compute.instanceAdmin.v1)")
        default:
            return CloudcError(.invalidRequest, what,
                               fix: "check the template's values (flavor, gpus, image, disk_gb, network) for this zone; run the command again after fixing it (it resumes)")
        }
    }

    static let capacityFix = "Compute Engine has no capacity for this now: add zones: (later zones are tried in turn), try again later, or choose another flavor or GPU type"

    static func quotaFix(_ project: String) -> String {
        "a quota of project \(project) is reached: ask for more (IAM & Admin → Quotas, e.g. CPUS, GPUS_ALL_REGIONS, NVIDIA_T4_GPUS, PREEMPTIBLE_*), use fewer or smaller nodes, or stop another cluster"
    }
}
