import CloudcCore
@testable import Configurator
import Testing

@Suite struct TemplateTests {
    @Test func insertsValuesAndDottedPaths() throws {
        let t = try Template(name: "t", source: "host {{node.name}} of {{cluster}}\n")
        #expect(try t.render(["node": .map(["name": "c1"]), "cluster": "demo"]) == "host c1 of demo\n")
    }

    @Test func repeatsListsAndDropsStandaloneSectionLines() throws {
        let t = try Template(name: "hosts", source: """
            # head
            {{#nodes}}
            {{address}} {{name}}
            {{/nodes}}
            tail
            """)
        let out = try t.render(["nodes": .list([.map(["name": "a", "address": "10.0.0.1"]),
                                                .map(["name": "b", "address": "10.0.0.2"])])])
        #expect(out == "# head\n10.0.0.1 a\n10.0.0.2 b\ntail")
    }

    @Test func flagsAndInvertedSections() throws {
        let t = try Template(name: "t", source: "{{#on}}yes{{/on}}{{^on}}no{{/on}}")
        #expect(try t.render(["on": true]) == "yes")
        #expect(try t.render(["on": false]) == "no")
        #expect(try t.render(["on": ""]) == "no")
        #expect(try t.render(["on": .list([])]) == "no")
    }

    @Test func innerNamesShadowOuterOnesAndDotIsTheItem() throws {
        let t = try Template(name: "t", source: "{{#xs}}{{.}}-{{name}};{{/xs}}")
        #expect(try t.render(["xs": .list(["1", "2"]), "name": "outer"]) == "1-outer;2-outer;")
    }

    @Test func unknownNameIsAnErrorWithItsLine() throws {
        let t = try Template(name: "slurm.conf", source: "a\nb {{nodez}}\n")
        #expect {
            try t.render(["nodes": "x"])
        } throws: { error in
            let e = error as? CloudcError
            return e?.code == .config && e?.message.contains("slurm.conf, line 2") == true
                && e?.message.contains("nodez") == true
        }
    }

    @Test func unbalancedSectionsAreRejected() {
        #expect(throws: CloudcError.self) { try Template(name: "t", source: "{{#a}}x") }
        #expect(throws: CloudcError.self) { try Template(name: "t", source: "x{{/a}}") }
        #expect(throws: CloudcError.self) { try Template(name: "t", source: "{{#a}}x{{/b}}") }
        #expect(throws: CloudcError.self) { try Template(name: "t", source: "{{a") }
    }

    @Test func listsCannotBePrintedAsText() throws {
        let t = try Template(name: "t", source: "{{xs}}")
        #expect(throws: CloudcError.self) { try t.render(["xs": .list(["1"])]) }
    }
}
