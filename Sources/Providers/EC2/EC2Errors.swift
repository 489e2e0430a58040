import CloudcCore

/// Turns EC2's error codes into one clear line for the user: what failed, the cloud's code
/// and message, and what to do.
enum EC2ErrorMapper {
    static func userError(_ error: Error, credentialsSource: String, region: String) -> Error {
        if let error = error as? TransportError {
            return CloudcError(.unavailable, "cannot reach EC2 (\(error.description))",
                               fix: "check your network connection and the cloud's endpoint, then try again")
        }
        guard let error = error as? EC2APIError else { return error }
        let what = "EC2 \(error.action) failed: \(error.code): \(error.message)"
        switch error.code {
        case "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
             "InvalidAccessKeyId", "IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken",
             "RequestExpired", "InvalidToken":
            return CloudcError(.credentials, what,
                               fix: "EC2 refused the credentials from \(credentialsSource): check the access key id and secret key (and session token), or that your clock is right")
        case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "OptInRequired":
            return CloudcError(.permission, what,
                               fix: "ask your AWS administrator to allow ec2:\(error.action) for these credentials (\(credentialsSource))")
        case "InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity",
             "InsufficientCapacity", "SpotMaxPriceTooLow", "InsufficientFreeAddressesInSubnet":
            return CloudcError(.capacity, what,
                               fix: "EC2 has no capacity for this now in \(region): try again later, another instance type, another subnet (availability zone), or spot: false")
        case "InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded", "ResourceLimitExceeded",
             "SecurityGroupLimitExceeded", "KeyPairLimitExceeded", "RulesPerSecurityGroupLimitExceeded":
            return CloudcError(.quota, what,
                               fix: "your account's limit in \(region) is reached: ask for a higher quota (Service Quotas console), use fewer or smaller nodes, or stop another cluster")
        case "InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable":
            return CloudcError(.invalidRequest, what,
                               fix: "set image: in the template to an AMI id that exists in \(region) (AMI ids differ per region)")
        case "InvalidInstanceType",
             "InvalidParameterValue" where error.message.lowercased().contains("instance type"):
            return CloudcError(.invalidRequest, what,
                               fix: "set flavor: to an instance type offered in \(region) (aws ec2 describe-instance-types)")
        case "InvalidSubnetID.NotFound", "InvalidVpcID.NotFound":
            return CloudcError(.invalidRequest, what, fix: "check subnet:/vpc: in the cloud config; they must exist in \(region)")
        default:
            if error.isRetryable {
                return CloudcError(.unavailable, what, fix: "EC2 is failing or throttling; wait a little and run the command again (it resumes)")
            }
            return CloudcError(.invalidRequest, what, fix: "check the template's values for this request; run the command again after fixing it (it resumes)")
        }
    }
}
