import CloudcCore
import Foundation
@testable import Providers
import Testing

/// The signer's stages on their own, and whole signatures checked against botocore 1.43.11
/// (the signer `moto_server` uses to check ours). The reference values were computed with
/// `botocore.auth.SigV4Auth(...).add_auth(AWSRequest(...))` at the same frozen time.
@Suite struct SigV4SignerTests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE",
                                            secretAccessKey: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                            source: "test")

    @Test(arguments: [
        (0, "19700101T000000Z"),
        (-1, "19691231T235959Z"),
        (1_440_938_160, "20150830T123600Z"),
        (946_684_799, "19991231T235959Z"),
        (951_825_600, "20000229T120000Z"),
        (1_709_251_198, "20240229T235958Z"),
        (4_107_542_400, "21000301T000000Z"),
    ])
    func timestamp(seconds: Int, expected: String) {
        let timestamp = SigV4Signer.Timestamp(Date(timeIntervalSince1970: TimeInterval(seconds)))
        #expect(timestamp.dateTime == expected)
        #expect(timestamp.day == String(expected.prefix(8)))
    }

    @Test("timestamp drops fractions of a second, before 1970 too")
    func timestampFraction() {
        #expect(SigV4Signer.Timestamp(Date(timeIntervalSince1970: 1_440_938_160.999)).dateTime == "20150830T123600Z")
        #expect(SigV4Signer.Timestamp(Date(timeIntervalSince1970: -0.5)).dateTime == "19691231T235959Z")
        #expect(SigV4Signer.Timestamp(Date(timeIntervalSince1970: -86_400)).dateTime == "19691231T000000Z")
    }

    @Test(arguments: [
        ("", "/"),
        ("/", "/"),
        ("/a%20b", "/a%2520b"),          // already encoded on the wire: encoded again
        ("/a/b/../c", "/a/c"),
        ("/a/./b/", "/a/b/"),
        ("/../a", "/a"),
        ("//a//b//", "/a/b/"),
        ("/a/..", "/"),
        ("/\u{1234}", "/%E1%88%B4"),
        ("/a+b=c", "/a%2Bb%3Dc"),
    ])
    func canonicalURI(path: String, expected: String) {
        #expect(SigV4Signer.canonicalURI(path) == expected)
    }

    @Test(arguments: [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1", "a=1&a=2"),
        ("Param=x&Param-3=y", "Param=x&Param-3=y"),   // sorted by name, then value; not as whole strings
        ("flag", "flag="),
        ("flag=", "flag="),
        ("a=x+y", "a=x%2By"),                          // + is a plus sign, not a space
        ("a=x%20y", "a=x%20y"),
        ("a=%7e%2a", "a=~%2A"),                        // decoded and encoded again: one spelling
        ("k=v=w", "k=v%3Dw"),
        ("&&a=1&", "a=1"),
        ("a%=1%zz", "a%25=1%25zz"),                    // a stray % is a literal %
        ("\u{1234}=bar", "%E1%88%B4=bar"),
    ])
    func canonicalQueryString(query: String, expected: String) {
        #expect(SigV4Signer.canonicalQueryString(query) == expected)
    }

    @Test func canonicalHeaders() {
        let (text, signed) = SigV4Signer.canonicalHeaders([
            (name: "Host", value: "example.com"),
            (name: "X-B", value: "  two  words \t here "),
            (name: "x-a", value: "first"),
            (name: "X-A", value: "second\n   folded"),
            (name: "Empty", value: ""),
        ])
        #expect(text == "empty:\nhost:example.com\nx-a:first,second folded\nx-b:two words here\n")
        #expect(signed == "empty;host;x-a;x-b")
    }

    @Test("an EC2 Query API POST with a session token signs as botocore signs it")
    func ec2PostWithSessionToken() {
        var credentials = Self.credentials
        credentials.sessionToken = Secret("FQoGZXIvYXdzEXAMPLETOKEN//+=")
        let signer = SigV4Signer(credentials: credentials, region: "eu-west-1", service: "ec2")
        let body = "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Acloudc%3Acluster"
            + "&Filter.1.Value.1=my%20cluster"
        let request = SigV4Request(method: "POST", path: "/", headers: [
            (name: "Host", value: "127.0.0.1:5000"),
            (name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8"),
            (name: "User-Agent", value: "cloudc/0.1"),
        ], body: Array(body.utf8))

        let headers = signer.signingHeaders(for: request, at: Date(timeIntervalSince1970: 1_709_251_198))
        #expect(headers.map(\.name) == ["Authorization", "X-Amz-Date", "X-Amz-Security-Token"])
        #expect(headers[0].value == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240229/eu-west-1/ec2/aws4_request, "
            + "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
            + "Signature=4d263ee9c1b118a9860df0e2c8230b334d0a1c5a67e62ac7e563eec84d06c4f5")
        #expect(headers[1].value == "20240229T235958Z")
        #expect(headers[2].value == "FQoGZXIvYXdzEXAMPLETOKEN//+=")
    }

    @Test("a GET with an encoded path and a query signs as botocore signs it")
    func getWithPathAndQuery() {
        let signer = SigV4Signer(credentials: Self.credentials, region: "eu-west-1", service: "ec2")
        let request = SigV4Request(
            method: "GET", path: "/a%20b/./c/", query: "Version=2016-11-15&Action=DescribeRegions&Filter.1.Value.1=eu%2A",
            headers: [(name: "Host", value: "ec2.eu-west-1.amazonaws.com"), (name: "X-Custom", value: "  a \t b  ")])

        let signed = signer.sign(request, at: Date(timeIntervalSince1970: 946_684_799))
        #expect(signed.canonicalRequest == """
            GET
            /a%2520b/c/
            Action=DescribeRegions&Filter.1.Value.1=eu%2A&Version=2016-11-15
            host:ec2.eu-west-1.amazonaws.com
            x-amz-date:19991231T235959Z
            x-custom:a b

            host;x-amz-date;x-custom
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19991231/eu-west-1/ec2/aws4_request, "
            + "SignedHeaders=host;x-amz-date;x-custom, "
            + "Signature=3cd3eae3c7ea95a565246d4009a4a6e2fd65cffa272a7726ba50b36187e6334d")
        #expect(signer.signingHeaders(for: request, at: Date(timeIntervalSince1970: 946_684_799)).map(\.name)
            == ["Authorization", "X-Amz-Date"])
    }

    @Test("headers the signer sets replace stale ones, so a retried request signs the same")
    func resigning() {
        var credentials = Self.credentials
        credentials.sessionToken = Secret("new-token")
        let signer = SigV4Signer(credentials: credentials, region: "us-east-1", service: "ec2")
        let date = Date(timeIntervalSince1970: 1_440_938_160)
        let fresh = SigV4Request(method: "POST", path: "/", headers: [(name: "Host", value: "h")], body: Array("x".utf8))
        var retried = fresh
        retried.headers += [(name: "authorization", value: "AWS4-HMAC-SHA256 old"),
                            (name: "X-Amz-Date", value: "20000101T000000Z"),
                            (name: "X-Amz-Security-Token", value: "old-token"),
                            (name: "User-Agent", value: "not signed"),
                            (name: "Transfer-Encoding", value: "not signed")]

        #expect(signer.sign(retried, at: date) == signer.sign(fresh, at: date))
        #expect(signer.sign(fresh, at: date).signedHeaders == "host;x-amz-date;x-amz-security-token")
    }

    @Test("the signer's description shows no secret")
    func descriptionHasNoSecret() {
        var credentials = Self.credentials
        credentials.sessionToken = Secret("TOKEN-VALUE")
        let signer = SigV4Signer(credentials: credentials, region: "us-east-1", service: "ec2")
        for text in [String(describing: signer), String(reflecting: signer), dumped(signer)] {
            #expect(!text.contains("wJalrXUtnFEMI"))
            #expect(!text.contains("TOKEN-VALUE"))
        }
    }
}
