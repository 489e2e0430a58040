public enum CloudcMain {
    public static func run() async {}
}
