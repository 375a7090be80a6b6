// Run one Jenkins shared-library variable (vars/NAME.groovy) outside Jenkins, with stand-ins
// for the pipeline steps it uses: `sh` really runs its script with /bin/sh -xe in the
// workspace and the environment that withEnv and withCredentials give; junit, error, pwd,
// fileExists and readFile do what Jenkins' do, on local files.
//
// Usage: groovy jenkins_var.groovy VAR_FILE SCENARIO_JSON
// The scenario: {"workspace": DIR, "args": {…}, "env": {…} (env.X), "credentials": {ID:
// "secret" or "user:password"}}. Prints the report as JSON on the last line of stdout:
// {"returned": …, "error": message or null, "sh": [{script, label, status, output}],
// "junit": [testResults patterns]}.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

class Aborted extends RuntimeException {
    Aborted(String message) { super(message) }
}

Map scenario = new JsonSlurper().parse(new File(args[1])) as Map
File workspace = new File(scenario.workspace as String)
File tmp = new File(workspace.path + '@tmp')
tmp.mkdirs()
Map credentials = (scenario.credentials ?: [:]) as Map
List<Map> overlays = []
List<Map> shCalls = []
List<String> junitCalls = []

Closure resolve = { String path -> path.startsWith('/') ? new File(path) : new File(workspace, path) }
Closure layered = { Map layer, Closure body ->
    overlays << layer
    try {
        return body()
    } finally {
        overlays.remove(overlays.size() - 1)
    }
}

Binding binding = new Binding()
binding.env = (scenario.env ?: [:]) as Map
binding.withEnv = { List entries, Closure body ->
    Map layer = [:]
    entries.each { entry ->
        String text = entry.toString()
        int equals = text.indexOf('=')
        layer[text.substring(0, equals)] = text.substring(equals + 1)
    }
    layered(layer, body)
}
binding.string = { Map m -> [kind: 'string'] + m }
binding.usernamePassword = { Map m -> [kind: 'usernamePassword'] + m }
binding.withCredentials = { List binds, Closure body ->
    Map layer = [:]
    binds.each { Map bind ->
        String secret = credentials[bind.credentialsId]
        if (secret == null) {
            throw new Aborted("Could not find credentials entry with ID '${bind.credentialsId}'")
        }
        if (bind.kind == 'string') {
            layer[bind.variable] = secret
        } else {
            List<String> parts = secret.split(':', 2) as List
            layer[bind.usernameVariable] = parts[0]
            layer[bind.passwordVariable] = parts[1]
        }
    }
    layered(layer, body)
}
binding.sh = { Map m ->
    File script = File.createTempFile('script', '.sh', tmp)
    script.text = m.script
    ProcessBuilder builder = new ProcessBuilder('/bin/sh', '-xe', script.path)
    builder.directory(workspace)
    overlays.each { Map layer -> layer.each { k, v -> builder.environment().put(k.toString(), v.toString()) } }
    builder.redirectErrorStream(true)
    Process process = builder.start()
    String output = process.inputStream.getText('UTF-8')
    int status = process.waitFor()
    shCalls << [script: m.script, label: m.label, status: status, output: output]
    if (m.returnStatus) {
        return status
    }
    if (status != 0) {
        throw new Aborted("script returned exit code ${status}")
    }
    return null
}
binding.junit = { Map m -> junitCalls << m.testResults.toString() }
binding.error = { message -> throw new Aborted(message.toString()) }
binding.pwd = { Map m = [:] -> m.tmp ? tmp.path : workspace.path }
binding.fileExists = { path -> resolve(path.toString()).exists() }
binding.readFile = { path -> resolve(path.toString()).getText('UTF-8') }

// Other global variables of the library (pipelineKitCli) are in the binding, as in Jenkins.
File varFile = new File(args[0])
varFile.parentFile.eachFileMatch(~/.*\.groovy/) { File other ->
    if (other.name != varFile.name) {
        binding.setVariable(other.name - '.groovy', new GroovyShell(binding).parse(other))
    }
}
Script variable = new GroovyShell(binding).parse(varFile)
Map report = [returned: null, error: null]
try {
    report.returned = variable.invokeMethod('call', [scenario.args ?: [:]] as Object[])
} catch (Aborted e) {
    report.error = e.message
}
report.sh = shCalls
report.junit = junitCalls
println JsonOutput.toJson(report)
