/// "Did you mean …?" for misspelt keys and names.
enum Suggestions {
    /// The candidate closest to `word`, if one is close enough to be a likely typo.
    /// Case, `_` and `-` are ignored (`diskGB` finds `disk_gb`); a candidate that
    /// `word` begins or ends (`access_key` finds `access_key_id`) also counts.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let target = normalized(word)
        guard !target.isEmpty else { return nil }
        let limit = max(1, (target.count + 2) / 4)
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let other = normalized(candidate)
            var distance = editDistance(target, other)
            if target.count >= 3, other.hasPrefix(target) || other.hasSuffix(target) {
                distance = min(distance, 1)
            }
            if distance <= limit, distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        return best?.name
    }

    /// Levenshtein distance over characters: insertions, deletions and substitutions.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let left = Array(a), right = Array(b)
        if left.isEmpty { return right.count }
        if right.isEmpty { return left.count }
        var previous = Array(0...right.count)
        var current = previous
        for i in 1...left.count {
            current[0] = i
            for j in 1...right.count {
                let substitution = previous[j - 1] + (left[i - 1] == right[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[right.count]
    }

    /// `a, b, c` for messages.
    static func list(_ names: [String]) -> String {
        names.isEmpty ? "(none)" : names.joined(separator: ", ")
    }

    private static func normalized(_ word: String) -> String {
        String(word.lowercased().filter { $0 != "_" && $0 != "-" })
    }
}
