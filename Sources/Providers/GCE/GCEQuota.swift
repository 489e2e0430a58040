import CloudcCore
import Foundation

extension GCEProvider {
    /// The region's quotas (`regions.get`) against the new nodes: vCPUs in CPUS or in their
    /// series' own metric (N2_CPUS, C2_CPUS, …, where the region lists one), GPUs in
    /// NVIDIA_<MODEL>_GPUS (attached and built into a2/g2 types), spot ones in the PREEMPTIBLE_
    /// metrics where those have a limit (else in the standard ones, as Google counts them), and
    /// INSTANCES. Priced in the first zone's region, where a start tries first.
    public func checkQuota(adding nodes: [(group: NodeGroupSpec, count: Int)], spec: ClusterSpec) async throws -> String? {
        guard let zone = zones.first else { return nil }
        let region = Self.region(of: zone)
        let client = self.client
        let answer = try await api { try await client.call("regions.get", "GET", client.projectPath("regions/\(GCEClient.segment(region))")) }
        var limits: [String: (limit: Double, usage: Double)] = [:]
        for quota in answer["quotas"]?.items ?? [] {
            if let metric = quota["metric"]?.string, let limit = quota["limit"]?.number { limits[metric] = (limit, quota["usage"]?.number ?? 0) }
        }
        guard !limits.isEmpty else { return nil }
        var adding: [String: Double] = [:]
        /// The spot form of a metric where it has a limit, else the metric itself.
        func metric(_ name: String, spot: Bool) -> String {
            spot && (limits["PREEMPTIBLE_" + name]?.limit ?? 0) > 0 ? "PREEMPTIBLE_" + name : name
        }
        for (group, count) in nodes where count > 0 {
            let type = try await api { try await client.machineType(group.flavor, zone: zone) }
            let cpus = (type["guestCpus"]?.number ?? 0) * Double(count)
            let series = group.flavor.split(separator: "-").first.map { $0.uppercased() + "_CPUS" } ?? "CPUS"
            adding[limits[series] != nil ? series : metric("CPUS", spot: group.spot), default: 0] += cpus
            var gpus: [(String, Double)] = (type["accelerators"]?.items ?? []).compactMap { accelerator in
                accelerator["guestAcceleratorType"]?.string.map { ($0, accelerator["guestAcceleratorCount"]?.number ?? 0) }
            }
            if let attached = group.gpus, let kind = attached.type { gpus.append((kind, Double(attached.count))) }
            for (kind, each) in gpus {
                adding[metric(Self.gpuMetric(kind), spot: group.spot), default: 0] += each * Double(count)
            }
            adding["INSTANCES", default: 0] += Double(count)
        }
        let needs = adding.sorted { $0.key < $1.key }.compactMap { name, amount in
            limits[name].map { QuotaNeed(name: name, limit: $0.limit, used: $0.usage, adding: amount) }
        }
        return try QuotaNeed.verdict(needs, where: "region \(region) of project \(project)",
                                     fix: "ask for more in the console (IAM & Admin, Quotas: compute.googleapis.com), use fewer or smaller nodes, or other zones in another region")
    }

    /// `nvidia-tesla-t4` → `NVIDIA_T4_GPUS`, `nvidia-a100-80gb` → `NVIDIA_A100_80GB_GPUS`.
    static func gpuMetric(_ accelerator: String) -> String {
        let model = accelerator.replacingOccurrences(of: "nvidia-", with: "").replacingOccurrences(of: "tesla-", with: "")
        return "NVIDIA_" + model.uppercased().replacingOccurrences(of: "-", with: "_") + "_GPUS"
    }
}
