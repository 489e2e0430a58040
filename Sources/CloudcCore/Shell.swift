/// Words for a POSIX shell, and for Python's `shlex.split` (which reads Ansible's inventory lines):
/// the one quoting rule of every command cloudc builds, here or on a node.
public enum Shell {
    /// `word` as one word: bare when it holds only characters no shell treats specially, else in
    /// single quotes, a `'` inside written as `'\''` (POSIX sh and shlex both read it).
    public static func quote(_ word: String) -> String {
        let safe = !word.isEmpty && word.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "@%+=:,./_-".unicodeScalars.contains($0)
        }
        return safe ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
