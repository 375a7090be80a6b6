// Parse Groovy files (Jenkins shared-library variables, Jenkinsfiles) up to the CONVERSION
// phase: the syntax and the AST, nothing resolved, since sh, junit, withEnv… exist only
// inside Jenkins. Usage: groovy parse_groovy.groovy FILE…; prints one line per file, exits
// 1 when any file does not parse (with the compiler's message on stderr).
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

int failed = 0
for (String path : args) {
    CompilationUnit unit = new CompilationUnit()
    unit.addSource(new File(path))
    try {
        unit.compile(Phases.CONVERSION)
        println "parsed ${path}"
    } catch (Exception e) {
        failed++
        System.err.println("${path}: ${e.message}")
    }
}
System.exit(failed == 0 ? 0 : 1)
