// pipelineKitApprove: record a sign-off with `pipeline-kit approve`, the approver being the
// submitter of the pipeline's `input` step.
//
//   input { message 'Promote into prod?'; submitter 'release-managers'; submitterParameter 'APPROVER' }
//   pipelineKitApprove(service: 'webapp', version: '1.2.0', stage: 'prod', approver: env.APPROVER)
//
// Arguments: service, version, stage and approver (required: the input's submitterParameter);
// config (PIPELINE_KIT_CONFIG); dryRun (boolean); bin (the pipeline-kit executable, default
// from PATH); failOnError (default true).
//
// The approver reaches pipeline-kit as PIPELINE_KIT_APPROVER, the identity it records under
// Jenkins: a --by that differs is refused, and the stage's approval policy (approvals,
// approvers, self_approval) decides whether the sign-off counts. Values reach the shell only
// as environment variables (withEnv), never interpolated into the script.
// Returns a Map: status (the exit code: 1 when the policy refuses the approver).

def call(Map args = [:]) {
    String name = 'pipelineKitApprove'
    pipelineKitCli.checkArgs(name, args, [
        'service', 'version', 'stage', 'approver', 'config', 'dryRun', 'bin', 'failOnError',
    ], ['service', 'version', 'stage', 'approver'],
        "${name}(service: 'webapp', version: '1.2.0', stage: 'prod', approver: env.APPROVER)")
    List<String> environment = [
        "PK_SERVICE=${pipelineKitCli.asText(args.service)}",
        "PK_VERSION=${pipelineKitCli.asText(args.version)}",
        "PK_STAGE=${pipelineKitCli.asText(args.stage)}",
        "PK_DRY_RUN=${pipelineKitCli.asFlag(args.dryRun)}",
        "PIPELINE_KIT_APPROVER=${pipelineKitCli.asText(args.approver)}",
    ]
    String script = '''
set -eu
set -- --stage="$PK_STAGE"
if [ "$PK_DRY_RUN" = true ]; then set -- "$@" --dry-run; fi
set -- "$@" -- "$PK_SERVICE" "$PK_VERSION"
if [ -n "$PK_CONFIG" ]; then PIPELINE_KIT_CONFIG=$PK_CONFIG; export PIPELINE_KIT_CONFIG; fi
exec "$PK_BIN" approve "$@"
'''
    return pipelineKitCli.execute(name, 'approve', script, environment, [], '',
        args + [recordJunit: false])
}
