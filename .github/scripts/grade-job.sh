#!/usr/bin/env bash
# Everything a job of grade.yml or sweep.yml does, in one place: the workflow steps only call
# this script, and the end-to-end test runs the same script on its own machine.
#
#   grade-job.sh fetch  REPO SHA OUTDIR [TREF]   write OUTDIR/snapshot.tar (git archive of SHA)
#                                                and, with TREF, OUTDIR/template.tar (git archive
#                                                of $MLE_ASSESS_TEMPLATE_REPO at TREF)
#   grade-job.sh grade  SNAPSHOT_TAR OUTDIR [TREF]
#                                                extract, install the runtime, grade as root;
#                                                with TREF, against template.tar beside the
#                                                snapshot (the template the candidate was given)
#   grade-job.sh report RESULTS_DIR REPO SHA     post the results (check run, comment, board)
#   grade-job.sh neutral REPO SHA REASON         post a neutral check run (never a score)
#   grade-job.sh sweep | finalize                dispatch missing gradings, post final scores
#
# Configuration comes from the environment. The App and board variables are read by
# `mle-assess` itself; this script reads MLE_ASSESS_ORG and MLE_ASSESS_ASSESSMENT_REPO (when
# set, a candidate REPO must be in that organisation and must not be this repository), and:
#   MLE_ASSESS_CMD       the command line (default `mle-assess`; may hold several words)
#   MLE_ASSESS_SUDO      how to become root when not root (default `sudo`)
#   MLE_ASSESS_WORK_DIR  parent of the fresh extraction folder (default $RUNNER_TEMP, $TMPDIR
#                        or /tmp)
#   MLE_ASSESS_RUNTIME_PYTHON  the Python 3.11 to build the grading runtime from (`grade`;
#                        setup-python's python-path output). Required inside GitHub Actions,
#                        whose image's python3 is another version; elsewhere the default is
#                        `mle-assess runtime install`'s own.
# and hands MLE_ASSESS_RUNTIME, MLE_ASSESS_GRADER_COMMIT, GITHUB_ACTIONS and CI on to the
# grader across sudo, which would drop them.
#
# REPO and SHA are checked here, whatever the caller checked: a value that does not match is
# refused before anything runs, and is never echoed back (it could hold workflow commands).
set -euo pipefail

readonly REPO_RE='^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$'
readonly SHA_RE='^[0-9a-f]{40}$'
readonly SNAPSHOT_NAME=snapshot.tar
readonly TEMPLATE_NAME=template.tar
readonly ROOT_ENV=(MLE_ASSESS_RUNTIME MLE_ASSESS_GRADER_COMMIT GITHUB_ACTIONS CI)

say() { printf 'grade-job: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 2
}

usage() {
    cat >&2 <<'EOF'
usage: grade-job.sh fetch REPO SHA OUTDIR [TEMPLATE_REF]
       grade-job.sh grade SNAPSHOT_TAR OUTDIR [TEMPLATE_REF]
       grade-job.sh report RESULTS_DIR REPO SHA
       grade-job.sh neutral REPO SHA REASON
       grade-job.sh sweep
       grade-job.sh finalize
EOF
    exit 2
}

# Text from elsewhere (tar's messages name candidate files) must not act as a workflow command.
log_safe() { sed -e 's/::/: :/g' -e 's/##\[/## [/g' >&2; }

check_repo() {
    local repo=$1
    [[ $repo =~ $REPO_RE ]] || die "refused REPO: it must be OWNER/NAME (OWNER: letters, digits" \
        "and '-'; NAME: letters, digits, '.', '_' and '-')"
    local name=${repo#*/}
    [[ $name != "." && $name != ".." ]] || die "refused REPO: NAME cannot be '.' or '..'"
    ((${#repo} <= 140)) || die "refused REPO: longer than 140 characters"
}

# A candidate repository lies in the candidates' organisation and is never this assessment
# repository (GitHub names compare without case).
check_candidate_repo() {
    check_repo "$1"
    local repo=${1,,} org=${MLE_ASSESS_ORG:-} assessment=${MLE_ASSESS_ASSESSMENT_REPO:-}
    if [[ -n $org && ${repo%%/*} != "${org,,}" ]]; then
        die "refused REPO: it is not in the organisation MLE_ASSESS_ORG"
    fi
    if [[ -n $assessment && $repo == "${assessment,,}" ]]; then
        die "refused REPO: it is the assessment repository itself"
    fi
}

check_sha() {
    [[ $1 =~ $SHA_RE ]] || die "refused SHA: it must be a full commit id, 40 lowercase hex digits"
}

check_reason() {
    local reason=$1
    [[ -n $reason ]] || die "refused REASON: it is empty"
    ((${#reason} <= 200)) || die "refused REASON: longer than 200 characters"
    [[ $reason != *[[:cntrl:]]* ]] || die "refused REASON: it holds control characters"
}

# An output folder must be new or empty: results from an earlier run must not mix in.
fresh_dir() {
    local dir=$1
    if [[ -e $dir || -L $dir ]]; then
        [[ -d $dir && ! -L $dir ]] || die "$dir exists and is not a folder"
        [[ -z $(ls -A -- "$dir") ]] || die "$dir is not empty"
    else
        mkdir -p -- "$dir"
    fi
}

# The command line as an array, its program made absolute so that sudo finds the same one.
CLI=()
load_cli() {
    local words
    read -r -a words <<<"${MLE_ASSESS_CMD:-mle-assess}"
    ((${#words[@]} > 0)) || die "MLE_ASSESS_CMD is empty"
    local program
    program=$(command -v -- "${words[0]}") ||
        die "${words[0]} not found: install the project (pip install -e .) or set MLE_ASSESS_CMD"
    CLI=("$program" "${words[@]:1}")
}

cli() {
    load_cli
    "${CLI[@]}" "$@"
}

# Runs a command as root: directly when root already, else through sudo.
as_root() {
    if ((EUID == 0)); then
        "$@"
    else
        local sudo
        read -r -a sudo <<<"${MLE_ASSESS_SUDO:-sudo}"
        "${sudo[@]}" -- "$@"
    fi
}

# Runs the command line as root, passing on the few variables the grader reads (sudo resets
# the environment).
cli_as_root() {
    local assignments=() name
    for name in "${ROOT_ENV[@]}"; do
        if [[ -n ${!name:-} ]]; then
            assignments+=("$name=${!name}")
        fi
    done
    as_root env "${assignments[@]}" "${CLI[@]}" "$@"
}

# Every member must be a plain file, a folder or a symbolic link (git archive writes nothing
# else; the grader refuses links itself), with a relative name that never climbs out with '..'.
check_members() {
    local tarball=$1 verbose names line name count=0
    verbose=$(LC_ALL=C tar --list --verbose --absolute-names --file "$tarball" 2>/dev/null) ||
        die "refused the snapshot: it is not a readable tar file"
    names=$(LC_ALL=C tar --list --absolute-names --file "$tarball" 2>/dev/null) ||
        die "refused the snapshot: it is not a readable tar file"
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        case ${line:0:1} in
            - | d | l) ;;
            *) die "refused the snapshot: it holds a member that is not a file, folder or link" ;;
        esac
    done <<<"$verbose"
    while IFS= read -r name; do
        [[ -n $name ]] || continue
        count=$((count + 1))
        [[ $name != /* ]] || die "refused the snapshot: it holds an absolute member name"
        [[ "/$name/" != */../* ]] || die "refused the snapshot: it holds a member name with '..'"
    done <<<"$names"
    ((count > 0)) || die "refused the snapshot: it is empty"
}

# The organisation's template repository, named by MLE_ASSESS_TEMPLATE_REPO: in the
# candidates' organisation, and never a candidate's own repository.
template_repo() {
    local template=${MLE_ASSESS_TEMPLATE_REPO:-}
    [[ -n $template ]] || die "a TEMPLATE_REF needs MLE_ASSESS_TEMPLATE_REPO (ORG/NAME)"
    check_repo "$template"
    local org=${MLE_ASSESS_ORG:-}
    if [[ -n $org && ${template,,} != "${org,,}"/* ]]; then
        die "refused MLE_ASSESS_TEMPLATE_REPO: it is not in the organisation MLE_ASSESS_ORG"
    fi
    printf '%s' "$template"
}

cmd_fetch() {
    (($# < 1)) || check_candidate_repo "$1"
    (($# < 2)) || check_sha "$2"
    (($# < 4)) || [[ -z $4 ]] || check_sha "$4"
    (($# == 3 || $# == 4)) || usage
    local repo=$1 sha=$2 outdir=$3 tref=${4:-}
    fresh_dir "$outdir"
    local snapshot=$outdir/$SNAPSHOT_NAME
    say "fetching $repo at $sha"
    cli fetch --repo "$repo" --sha "$sha" --out "$snapshot"
    [[ -f $snapshot && ! -L $snapshot ]] || die "the fetch wrote no snapshot at $snapshot"
    LC_ALL=C tar --list --file "$snapshot" >/dev/null 2>&1 ||
        die "the snapshot at $snapshot is not a readable tar file"
    say "snapshot written: $snapshot ($(wc -c <"$snapshot") bytes)"
    if [[ -n $tref ]]; then
        local template
        template=$(template_repo)
        say "fetching the template the candidate was given: $template at $tref"
        cli fetch --repo "$template" --sha "$tref" --out "$outdir/$TEMPLATE_NAME"
        LC_ALL=C tar --list --file "$outdir/$TEMPLATE_NAME" >/dev/null 2>&1 ||
            die "the template archive is not a readable tar file"
    fi
}

# The arguments of `runtime install`: with --python when MLE_ASSESS_RUNTIME_PYTHON names one.
INSTALL=()
runtime_install_args() {
    INSTALL=(runtime install)
    local python=${MLE_ASSESS_RUNTIME_PYTHON:-}
    if [[ -n $python ]]; then
        [[ $python == /* && -f $python && -x $python ]] ||
            die "MLE_ASSESS_RUNTIME_PYTHON must be the absolute path of a Python 3.11 program"
        INSTALL+=(--python "$python")
    elif [[ ${GITHUB_ACTIONS:-} == true ]]; then
        die "MLE_ASSESS_RUNTIME_PYTHON is not set: on a runner the grading runtime is built" \
            "from setup-python's Python 3.11 (its python-path output), never from the image's"
    fi
}

cmd_grade() {
    (($# < 3)) || [[ -z $3 ]] || check_sha "$3"
    (($# == 2 || $# == 3)) || usage
    local tarball=$1 outdir=$2 tref=${3:-}
    [[ -f $tarball && ! -L $tarball ]] || die "no snapshot file at $tarball"
    local template_tar=
    if [[ -n $tref ]]; then
        template_tar=$(dirname -- "$tarball")/$TEMPLATE_NAME
        [[ -f $template_tar && ! -L $template_tar ]] ||
            die "a TEMPLATE_REF needs $TEMPLATE_NAME beside the snapshot"
        check_members "$template_tar"
    fi
    load_cli
    runtime_install_args
    check_members "$tarball"
    fresh_dir "$outdir"

    local parent=${MLE_ASSESS_WORK_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}
    WORK=$(mktemp -d -- "$parent/mle-assess-snapshot.XXXXXX")
    trap 'rm -rf -- "$WORK"' EXIT
    local submission=$WORK/submission
    mkdir -- "$submission"
    say "extracting the snapshot into $submission"
    if ! LC_ALL=C tar --extract --file "$tarball" --directory "$submission" \
        --no-same-owner --no-same-permissions --no-overwrite-dir 2> >(log_safe); then
        die "tar could not extract the snapshot"
    fi

    # Protected files are compared with the template the candidate was given, when known.
    local against=()
    if [[ -n $tref ]]; then
        mkdir -- "$WORK/template"
        if ! LC_ALL=C tar --extract --file "$template_tar" --directory "$WORK/template" \
            --no-same-owner --no-same-permissions --no-overwrite-dir 2> >(log_safe); then
            die "tar could not extract the template"
        fi
        against=(--template "$WORK/template" --template-ref "$tref")
    fi

    say "installing the grading runtime"
    cli_as_root "${INSTALL[@]}"
    say "grading with full isolation"
    local rc=0
    cli_as_root grade "$submission" --out "$outdir" --isolation full "${against[@]}" || rc=$?
    if ((EUID != 0)); then
        # The grader wrote as root; the upload step and the next run's cleanup run as us.
        as_root chown -R -- "$(id -u):$(id -g)" "$outdir"
    fi
    ((rc == 0)) || die "the grader could not run (exit $rc)"
    [[ -f $outdir/results.json ]] || die "the grader finished but wrote no results.json"
    say "results written: $outdir"
}

cmd_report() {
    (($# < 2)) || check_candidate_repo "$2"
    (($# < 3)) || check_sha "$3"
    (($# == 3)) || usage
    local results=$1 repo=$2 sha=$3
    if [[ ! -f $results/results.json || -L $results/results.json ]]; then
        say "no results.json in $results: posting a neutral status instead of a score"
        cli post --neutral --repo "$repo" --sha "$sha" --reason "the grader produced no results"
        exit 1
    fi
    # FINAL=true (grade.yml's `final` input, set by finalize): post the final score.
    local final=()
    [[ ${FINAL:-false} != true ]] || final=(--final)
    say "posting the results for $repo at $sha"
    cli post "$results" --repo "$repo" --sha "$sha" "${final[@]}"
}

cmd_neutral() {
    (($# < 1)) || check_candidate_repo "$1"
    (($# < 2)) || check_sha "$2"
    (($# < 3)) || check_reason "$3"
    (($# == 3)) || usage
    local repo=$1 sha=$2 reason=$3
    local final=()
    [[ ${FINAL:-false} != true ]] || final=(--final)
    say "posting a neutral status for $repo at $sha"
    cli post --neutral --repo "$repo" --sha "$sha" --reason "$reason" "${final[@]}"
}

check_assessment_repo() {
    [[ -n ${MLE_ASSESS_ASSESSMENT_REPO:-} ]] ||
        die "MLE_ASSESS_ASSESSMENT_REPO is not set (OWNER/NAME of the assessment repository)"
    check_repo "$MLE_ASSESS_ASSESSMENT_REPO"
}

cmd_sweep() {
    (($# == 0)) || usage
    check_assessment_repo
    cli sweep
}

cmd_finalize() {
    (($# == 0)) || usage
    check_assessment_repo
    cli finalize
}

main() {
    (($# >= 1)) || usage
    local command=$1
    shift
    case $command in
        fetch) cmd_fetch "$@" ;;
        grade) cmd_grade "$@" ;;
        report) cmd_report "$@" ;;
        neutral) cmd_neutral "$@" ;;
        sweep) cmd_sweep "$@" ;;
        finalize) cmd_finalize "$@" ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
