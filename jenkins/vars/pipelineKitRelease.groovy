// pipelineKitRelease: build, push and release a git tag with `pipeline-kit release`.
//
//   def r = pipelineKitRelease(registryCredentialsId: 'registry')      // in a tag build
//   pipelineKitPromote(service: r.service, version: r.version, to: 'qa')
//
// Arguments, all optional: tag (default: TAG_NAME, which Jenkins sets in a tag build, else
// the tag at HEAD); to (default: the top stage, e.g. dev); config (PIPELINE_KIT_CONFIG);
// junitDir ('pipeline-kit-reports', relative to the workspace); strictFeedback (boolean);
// registryCredentialsId (a username-with-password credential for the registry); bin (the
// pipeline-kit executable, default from PATH); githubCredentialsId (a secret-text
// credential: GitHub feedback on), githubRepository (owner/name), githubSha (default
// env.GIT_COMMIT), githubApiUrl; failOnError (default true);
// recordJunit (default true; false when the pipeline records the reports itself);
// dashboard (a folder: write the dashboard there after the command, whatever its verdict).
//
// Values reach the shell only as environment variables (withEnv), never interpolated into
// the script. The JUnit files of this run are recorded even when the release fails.
// Returns a Map: status (the exit code) and the outputs of the CLI (service, version, image,
// stage, result). A non-zero exit fails the build with the reason, unless failOnError: false.

def call(Map args = [:]) {
    String name = 'pipelineKitRelease'
    pipelineKitCli.checkArgs(name, args, [
        'tag', 'to', 'config', 'junitDir', 'strictFeedback', 'registryCredentialsId', 'bin',
        'githubCredentialsId', 'githubRepository', 'githubSha', 'githubApiUrl', 'failOnError',
        'recordJunit', 'dashboard',
    ], [], "${name}(to: 'dev')")
    String junitDir = pipelineKitCli.asText(args.junitDir) ?: 'pipeline-kit-reports'
    List<String> environment = [
        "PK_TAG=${pipelineKitCli.asText(args.tag)}",
        "PK_TO=${pipelineKitCli.asText(args.to)}",
    ]
    List credentials = []
    if (pipelineKitCli.asText(args.registryCredentialsId)) {
        credentials << usernamePassword(
            credentialsId: pipelineKitCli.asText(args.registryCredentialsId),
            usernameVariable: 'PIPELINE_KIT_REGISTRY_USERNAME',
            passwordVariable: 'PIPELINE_KIT_REGISTRY_PASSWORD'
        )
    }
    String script = '''
set -eu
set --
if [ -n "$PK_TAG" ]; then set -- "$@" --tag="$PK_TAG"; fi
if [ -n "$PK_TO" ]; then set -- "$@" --to="$PK_TO"; fi
if [ -n "$PK_JUNIT_DIR" ]; then set -- "$@" --junit-dir="$PK_JUNIT_DIR"; fi
if [ "$PK_STRICT_FEEDBACK" = true ]; then set -- "$@" --strict-feedback; fi
if [ -n "$PK_CONFIG" ]; then PIPELINE_KIT_CONFIG=$PK_CONFIG; export PIPELINE_KIT_CONFIG; fi
rm -f -- "$PK_JUNIT_DIR"/pipeline-kit-*.xml
exec "$PK_BIN" release "$@"
'''
    return pipelineKitCli.execute(name, 'release', script, environment, credentials, junitDir, args)
}
