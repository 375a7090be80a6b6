// pipelineKitCheck: the pull-request check, `pipeline-kit check`: every constraint the
// version (or the checkout's version, from its git tags) and the config would break.
//
//   pipelineKitCheck(fromGit: true)
//   def r = pipelineKitCheck(version: '1.3.0', failOnError: false)   // r.violations, r.result
//
// Arguments, all optional: version, or fromGit (boolean; not both); config (the config file
// to check, --config); junitDir ('pipeline-kit-reports', relative to the workspace);
// strictFeedback (boolean); bin (the pipeline-kit executable, default from PATH);
// githubCredentialsId (a secret-text credential: GitHub feedback on), githubRepository
// (owner/name), githubSha (default env.GIT_COMMIT), githubApiUrl; failOnError (default true);
// recordJunit (default true; false when the pipeline records the reports itself).
//
// Values reach the shell only as environment variables (withEnv), never interpolated into
// the script. The JUnit files of this run are recorded even when the check fails.
// Returns a Map: status (0, 1 on any violation, 2 on a broken config…) and the outputs of
// the CLI (version, violations, result). A non-zero exit fails the build with the reason,
// unless failOnError: false.

def call(Map args = [:]) {
    String name = 'pipelineKitCheck'
    checkArgs(name, args, [
        'version', 'fromGit', 'config', 'junitDir', 'strictFeedback', 'bin',
        'githubCredentialsId', 'githubRepository', 'githubSha', 'githubApiUrl', 'failOnError',
        'recordJunit',
    ], [], "${name}(fromGit: true)")
    if (asText(args.version) && asFlag(args.fromGit) == 'true') {
        error("${name}: give either version or fromGit: true, not both")
    }
    String junitDir = asText(args.junitDir) ?: 'pipeline-kit-reports'
    List<String> environment = [
        "PK_VERSION=${asText(args.version)}",
        "PK_FROM_GIT=${asFlag(args.fromGit)}",
    ]
    String script = '''
set -eu
set --
if [ -n "$PK_VERSION" ]; then set -- "$@" --version="$PK_VERSION"; fi
if [ "$PK_FROM_GIT" = true ]; then set -- "$@" --from-git; fi
if [ -n "$PK_CONFIG" ]; then set -- "$@" --config="$PK_CONFIG"; fi
if [ -n "$PK_JUNIT_DIR" ]; then set -- "$@" --junit-dir="$PK_JUNIT_DIR"; fi
if [ "$PK_STRICT_FEEDBACK" = true ]; then set -- "$@" --strict-feedback; fi
rm -f -- "$PK_JUNIT_DIR"/pipeline-kit-*.xml
exec "$PK_BIN" check "$@"
'''
    return runPipelineKit(name, 'check', script, environment, [], junitDir, args)
}

// -- the same helpers in each pipelineKit* variable ----------------------------------------

Map runPipelineKit(String name, String command, String script, List<String> environment,
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
    int status = -1
    Map result = [:]
    try {
        withEnv(all) {
            if (binds) {
                withCredentials(binds) {
                    status = sh(script: script, returnStatus: true, label: "pipeline-kit ${command}")
                }
            } else {
                status = sh(script: script, returnStatus: true, label: "pipeline-kit ${command}")
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
