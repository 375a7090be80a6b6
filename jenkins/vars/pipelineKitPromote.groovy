// pipelineKitPromote: promote a version of a service into a stage with `pipeline-kit promote`.
//
//   def r = pipelineKitPromote(service: 'webapp', to: 'qa')                 // dev's version into qa
//   pipelineKitPromote(service: 'webapp', version: '1.2.0', to: 'prod', dryRun: true)
//
// Arguments: service and to (required); version (default: the top version again); config
// (PIPELINE_KIT_CONFIG); junitDir ('pipeline-kit-reports', relative to the workspace);
// strictFeedback, dryRun (booleans); bin (the pipeline-kit executable, default from PATH);
// githubCredentialsId (a secret-text credential: GitHub feedback on), githubRepository
// (owner/name), githubSha (default env.GIT_COMMIT), githubApiUrl; failOnError (default true);
// recordJunit (default true; false when the pipeline records the reports itself);
// dashboard (a folder: write the dashboard there after the command, whatever its verdict).
//
// Values reach the shell only as environment variables (withEnv), never interpolated into
// the script. The JUnit files of this run are recorded even when the promotion fails.
// Returns a Map: status (the exit code) and the outputs of the CLI (service, version, stage,
// result). A non-zero exit fails the build with the reason, unless failOnError: false.

def call(Map args = [:]) {
    String name = 'pipelineKitPromote'
    pipelineKitCli.checkArgs(name, args, [
        'service', 'version', 'to', 'config', 'junitDir', 'strictFeedback', 'dryRun', 'bin',
        'githubCredentialsId', 'githubRepository', 'githubSha', 'githubApiUrl', 'failOnError',
        'recordJunit', 'dashboard',
    ], ['service', 'to'], "${name}(service: 'webapp', to: 'qa')")
    String junitDir = pipelineKitCli.asText(args.junitDir) ?: 'pipeline-kit-reports'
    List<String> environment = [
        "PK_SERVICE=${pipelineKitCli.asText(args.service)}",
        "PK_VERSION=${pipelineKitCli.asText(args.version)}",
        "PK_TO=${pipelineKitCli.asText(args.to)}",
        "PK_DRY_RUN=${pipelineKitCli.asFlag(args.dryRun)}",
    ]
    String script = '''
set -eu
set -- --to="$PK_TO"
if [ -n "$PK_JUNIT_DIR" ]; then set -- "$@" --junit-dir="$PK_JUNIT_DIR"; fi
if [ "$PK_STRICT_FEEDBACK" = true ]; then set -- "$@" --strict-feedback; fi
if [ "$PK_DRY_RUN" = true ]; then set -- "$@" --dry-run; fi
set -- "$@" -- "$PK_SERVICE"
if [ -n "$PK_VERSION" ]; then set -- "$@" "$PK_VERSION"; fi
if [ -n "$PK_CONFIG" ]; then PIPELINE_KIT_CONFIG=$PK_CONFIG; export PIPELINE_KIT_CONFIG; fi
rm -f -- "$PK_JUNIT_DIR"/pipeline-kit-*.xml
exec "$PK_BIN" promote "$@"
'''
    return pipelineKitCli.execute(name, 'promote', script, environment, [], junitDir, args)
}
