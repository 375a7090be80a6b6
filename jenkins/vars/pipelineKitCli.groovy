// pipelineKitCli: what pipelineKitRelease, pipelineKitPromote and pipelineKitCheck share.
//
//   pipelineKitCli.execute(name, command, script, environment, credentials, junitDir, args)
//
// runs a single-quoted shell script that calls the CLI, with every value passed through
// withEnv (and the credentials through withCredentials), reads the CLI's outputs (the
// GITHUB_OUTPUT file), records the JUnit files even when the command fails (unless
// recordJunit: false) and fails the build on a non-zero exit (unless failOnError: false).
// With dashboard: 'DIR' it then writes the dashboard into DIR (pipeline-kit dashboard).
// checkArgs, asText and asFlag validate and normalise the arguments of those steps.

Map execute(String name, String command, String script, List<String> environment,
            List credentials, String junitDir, Map args) {
    String outputs = "${pwd(tmp: true)}/pipeline-kit-${command}-${UUID.randomUUID()}.outputs"
    List<String> all = [
        "PK_BIN=${asText(args.bin) ?: 'pipeline-kit'}",
        "PK_CONFIG=${asText(args.config)}",
        "PK_JUNIT_DIR=${junitDir}",
        "PK_STRICT_FEEDBACK=${asFlag(args.strictFeedback)}",
        "PK_OUTPUTS=${outputs}",
        "GITHUB_OUTPUT=${outputs}",
    ] + environment
    List binds = [] + credentials
    if (asText(args.githubCredentialsId)) {
        if (!asText(args.githubRepository)) {
            error("${name}: githubCredentialsId needs githubRepository: 'owner/name' (where the feedback goes)")
        }
        binds << string(credentialsId: asText(args.githubCredentialsId), variable: 'GITHUB_TOKEN')
        all << "GITHUB_REPOSITORY=${asText(args.githubRepository)}"
        all << "GITHUB_SHA=${asText(args.githubSha) ?: asText(env.GIT_COMMIT)}"
        all << "GITHUB_API_URL=${asText(args.githubApiUrl) ?: 'https://api.github.com'}"
    }
    String dashboard = asText(args.dashboard)
    if (dashboard) {
        all << "PK_DASHBOARD=${dashboard}"
    }
    int status = -1
    Map result = [:]
    Closure run = {
        status = sh(script: script, returnStatus: true, label: "pipeline-kit ${command}")
        if (dashboard) {  // written whatever the command's verdict; a failure is a warning
            sh(script: '"$PK_BIN" dashboard --out="$PK_DASHBOARD" || echo "pipeline-kit: ' +
                'WARNING: the dashboard was not written" >&2',
               returnStatus: true, label: 'pipeline-kit dashboard')
        }
    }
    try {
        withEnv(all) {
            if (binds) {
                withCredentials(binds) {
                    run()
                }
            } else {
                run()
            }
            if (fileExists(outputs)) {
                result = parseOutputs(readFile(outputs))
                sh(script: 'rm -f -- "$PK_OUTPUTS"', label: 'pipeline-kit: remove the outputs file')
            }
        }
    } finally {
        if (asFlag(args.recordJunit, true) == 'true') {
            junit allowEmptyResults: true, testResults: "${junitDir}/pipeline-kit-*.xml"
        }
    }
    result.status = status
    if (status != 0 && asFlag(args.failOnError, true) == 'true') {
        error("${name}: pipeline-kit ${command} exited with ${status}: ${meaning(status)}")
    }
    return result
}

void checkArgs(String name, Map args, List<String> known, List<String> required,
               String example) {
    List keys = new ArrayList(args.keySet())
    for (int i = 0; i < keys.size(); i++) {
        if (!known.contains(keys[i])) {
            error("${name}: unknown argument '${keys[i]}'; it takes: ${known.join(', ')}")
        }
    }
    for (int i = 0; i < required.size(); i++) {
        if (!asText(args[required[i]])) {
            error("${name}: the '${required[i]}' argument is required, e.g. ${example}")
        }
    }
}

String asText(Object value) {
    return value == null ? '' : value.toString().trim()
}

String asFlag(Object value, boolean otherwise = false) {
    if (value == null || asText(value) == '') {
        return otherwise ? 'true' : 'false'
    }
    if (value == true || asText(value) == 'true') {
        return 'true'
    }
    if (value == false || asText(value) == 'false') {
        return 'false'
    }
    error("pipeline-kit: expected true or false for a boolean argument, got '${value}'")
}

Map parseOutputs(String content) {
    Map values = [:]
    List<String> lines = content.readLines()
    int i = 0
    while (i < lines.size()) {
        String line = lines[i]
        int heredoc = line.indexOf('<<')
        int equals = line.indexOf('=')
        if (heredoc > 0 && (equals < 0 || heredoc < equals)) {
            String delimiter = line.substring(heredoc + 2)
            List<String> value = []
            i++
            while (i < lines.size() && lines[i] != delimiter) {
                value << lines[i]
                i++
            }
            values[line.substring(0, heredoc)] = value.join('\n')
        } else if (equals > 0) {
            values[line.substring(0, equals)] = line.substring(equals + 1)
        }
        i++
    }
    return values
}

String meaning(int status) {
    switch (status) {
        case 1: return 'refused, a constraint or check failed (nothing changed)'
        case 2: return 'bad input or usage'
        case 3: return 'an external system failed (Docker, registry, state database, GitHub)'
        case 4: return 'a bug in pipeline-kit (traceback in .pipeline-kit/error.log)'
        default: return 'pipeline-kit did not finish (not installed, or killed?)'
    }
}
