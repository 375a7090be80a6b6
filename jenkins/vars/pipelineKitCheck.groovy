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
// recordJunit (default true; false when the pipeline records the reports itself);
// dashboard (a folder: write the dashboard there after the command, whatever its verdict).
//
// Values reach the shell only as environment variables (withEnv), never interpolated into
// the script. The JUnit files of this run are recorded even when the check fails.
// Returns a Map: status (0, 1 on any violation, 2 on a broken config…) and the outputs of
// the CLI (version, violations, result). A non-zero exit fails the build with the reason,
// unless failOnError: false.

def call(Map args = [:]) {
    String name = 'pipelineKitCheck'
    pipelineKitCli.checkArgs(name, args, [
        'version', 'fromGit', 'config', 'junitDir', 'strictFeedback', 'bin',
        'githubCredentialsId', 'githubRepository', 'githubSha', 'githubApiUrl', 'failOnError',
        'recordJunit', 'dashboard',
    ], [], "${name}(fromGit: true)")
    if (pipelineKitCli.asText(args.version) && pipelineKitCli.asFlag(args.fromGit) == 'true') {
        error("${name}: give either version or fromGit: true, not both")
    }
    String junitDir = pipelineKitCli.asText(args.junitDir) ?: 'pipeline-kit-reports'
    List<String> environment = [
        "PK_VERSION=${pipelineKitCli.asText(args.version)}",
        "PK_FROM_GIT=${pipelineKitCli.asFlag(args.fromGit)}",
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
    return pipelineKitCli.execute(name, 'check', script, environment, [], junitDir, args)
}
