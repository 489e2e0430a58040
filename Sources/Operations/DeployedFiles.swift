import CloudcCore
import Foundation

extension Operations {
    /// `/etc/slurm/slurm.conf` as it is on the frontend: the bytes travel base64-encoded, so
    /// nothing on the way (a terminal, a text decoding) can change one.
    public func deployedSlurmConf(of state: ClusterState) async throws -> [UInt8] {
        let path = "/etc/slurm/slurm.conf"
        guard let frontend = state.frontend else {
            throw CloudcError(.state, "cluster \(state.name) has no frontend node", fix: "see its nodes with: cloudc list-nodes \(state.name)")
        }
        let result = try await withSession(to: frontend, of: state) { try await $0.exec("base64 -w 0 \(path)") }
        guard result.status == 0 else {
            let setupHint = state.spec.setup == nil
                ? "its template has no setup: SLURM was never configured by cloudc"
                : "configure SLURM with: cloudc setup \(state.name)"
            throw CloudcError(.remote, "cannot read \(path) on \(frontend.name) (exit status \(result.status))",
                              fix: setupHint, cause: String(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).prefix(300)))
        }
        guard let data = Data(base64Encoded: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CloudcError(.remote, "\(frontend.name) sent \(path) back garbled (not base64)",
                              fix: "check that coreutils' base64 works there: cloudc ssh \(state.name) -- base64 \(path)")
        }
        return Array(data)
    }
}
