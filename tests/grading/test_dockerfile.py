"""The Dockerfile parser reads files the way BuildKit does; no cluster needed."""

from textwrap import dedent

import pytest

from labplatform.grading.dockerfile import (
    MAX_SIZE_BYTES,
    DockerfileError,
    parse_dockerfile,
)


def parse(text: str):
    return parse_dockerfile(dedent(text).lstrip("\n"))


def parse_error(text: str | bytes) -> DockerfileError:
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile(text)
    return caught.value


# --- parser directives --------------------------------------------------------


def test_syntax_directive_is_read():
    dockerfile = parse("""
        # syntax=docker/dockerfile:1
        FROM scratch
    """)
    assert dockerfile.directives == {"syntax": "docker/dockerfile:1"}


def test_backtick_escape_joins_lines():
    dockerfile = parse("""
        # escape=`
        FROM scratch
        RUN echo one `
            two
        USER 10001
    """)
    run = dockerfile.final_stage.instructions[1]
    assert dockerfile.escape == "`"
    assert run.value == "echo one     two"
    assert dockerfile.final_stage.user == "10001"


def test_backtick_escape_keeps_backslash():
    dockerfile = parse("""
        # escape=`
        FROM scratch
        ENV APP_HOME=C:\\app
    """)
    assert dockerfile.final_stage.env["APP_HOME"] == "C:\\app"


def test_backslash_escape_is_default():
    dockerfile = parse("""
        FROM scratch
        ENV APP_HOME=C:\\app
    """)
    assert dockerfile.escape == "\\"
    assert dockerfile.final_stage.env["APP_HOME"] == "C:app"


def test_directive_after_comment_ignored():
    dockerfile = parse("""
        # a comment ends the directives
        # escape=`
        FROM scratch
        RUN echo `
        USER 10001
    """)
    assert dockerfile.escape == "\\"
    assert dockerfile.directives == {}
    assert dockerfile.final_stage.user == "10001"


def test_directive_after_blank_line_ignored():
    dockerfile = parse_dockerfile("\n# escape=`\nFROM scratch\n")
    assert dockerfile.escape == "\\"


def test_directive_after_instruction_ignored():
    dockerfile = parse("""
        FROM scratch
        # syntax=docker/dockerfile:1
    """)
    assert dockerfile.directives == {}


def test_unknown_directive_ends_directives():
    dockerfile = parse("""
        # foo=bar
        # escape=`
        FROM scratch
    """)
    assert dockerfile.escape == "\\"


def test_duplicate_directive_rejected():
    error = parse_error("# escape=`\n# escape=\\\nFROM scratch\n")
    assert error.line == 2
    assert "twice" in error.message


def test_invalid_escape_rejected():
    error = parse_error("# escape=!\nFROM scratch\n")
    assert "backslash" in error.message


# --- instruction names --------------------------------------------------------


def test_lowercase_instructions_parse():
    dockerfile = parse("""
        from alpine:3.20 as Build
        user 10001
        cmd ["id"]
    """)
    stage = dockerfile.final_stage
    assert stage.name == "build"
    assert stage.user == "10001"
    assert stage.cmd.exec_form == ("id",)


def test_mixed_case_instructions_parse():
    dockerfile = parse("""
        From alpine:3.20 As base
        uSeR 10001
    """)
    assert dockerfile.final_stage.instructions[1].keyword == "USER"


def test_unknown_instruction_suggests_fix():
    error = parse_error("FROM scratch\nUSR 10001\n")
    assert error.line == 2
    assert "Did you mean USER?" in error.message


# --- continuations and comments -----------------------------------------------


def test_continuation_joins_lines():
    dockerfile = parse("""
        FROM debian:12
        RUN apt-get update && \\
            apt-get install -y curl
    """)
    run = dockerfile.final_stage.instructions[1]
    assert run.value == "apt-get update &&     apt-get install -y curl"
    assert run.line == 2
    assert run.end_line == 3


def test_comment_inside_continuation_dropped():
    dockerfile = parse("""
        FROM debian:12
        RUN apt-get install -y \\
        # USER root
            curl
    """)
    stage = dockerfile.final_stage
    assert stage.user is None
    assert stage.instructions[1].value.endswith("curl")


def test_blank_line_inside_continuation_dropped():
    dockerfile = parse("FROM debian:12\nRUN echo one \\\n\n    two\nUSER 10001\n")
    stage = dockerfile.final_stage
    assert stage.instructions[1].value == "echo one     two"
    assert stage.user == "10001"


def test_continuation_allows_trailing_blanks():
    dockerfile = parse_dockerfile("FROM debian:12\nRUN echo one \\  \n  two\n")
    assert dockerfile.final_stage.instructions[1].value == "echo one   two"


def test_indented_comment_is_comment():
    dockerfile = parse_dockerfile("FROM scratch\n   # USER root\nUSER 10001\n")
    assert dockerfile.final_stage.user == "10001"


# --- heredocs -----------------------------------------------------------------


def test_heredoc_body_is_data():
    dockerfile = parse("""
        FROM debian:12
        RUN <<EOF
        USER root
        FROM ubuntu:22.04
        EOF
        USER 10001
    """)
    assert len(dockerfile.stages) == 1
    assert dockerfile.final_stage.user == "10001"
    assert dockerfile.final_stage.user_line == 6


def test_heredoc_body_keeps_lines():
    dockerfile = parse("""
        FROM debian:12
        RUN <<EOF
        # not a comment here
        echo hi
        EOF
    """)
    heredoc = dockerfile.final_stage.instructions[1].heredocs[0]
    assert heredoc.body == "# not a comment here\necho hi\n"
    assert heredoc.line == 3


def test_heredoc_dash_strips_tabs():
    text = "FROM debian:12\nRUN <<-EOF\n\techo hi\n\tEOF\nUSER 7\n"
    dockerfile = parse_dockerfile(text)
    stage = dockerfile.final_stage
    assert stage.instructions[1].heredocs[0].strip_tabs
    assert stage.user == "7"


def test_heredoc_without_dash_needs_exact_terminator():
    error = parse_error("FROM debian:12\nRUN <<EOF\n\techo hi\n\tEOF\n")
    assert "terminating line" in error.message


def test_heredoc_quoted_delimiters():
    dockerfile = parse("""
        FROM debian:12
        RUN <<'EOF'
        echo $HOME
        EOF
        RUN <<"END"
        echo $HOME
        END
        RUN <<PLAIN
        echo $HOME
        PLAIN
    """)
    runs = dockerfile.final_stage.instructions[1:]
    assert runs[0].heredocs[0].name == "EOF"
    assert not runs[0].heredocs[0].expand
    assert runs[1].heredocs[0].name == "END"
    assert not runs[1].heredocs[0].expand
    assert runs[2].heredocs[0].expand


def test_two_heredocs_one_line():
    dockerfile = parse("""
        FROM debian:12
        RUN <<FIRST bash && <<SECOND bash
        echo one
        FIRST
        echo two
        SECOND
        USER 10001
    """)
    heredocs = dockerfile.final_stage.instructions[1].heredocs
    assert [heredoc.name for heredoc in heredocs] == ["FIRST", "SECOND"]
    assert heredocs[0].body == "echo one\n"
    assert heredocs[1].body == "echo two\n"
    assert heredocs[1].line == 5
    assert dockerfile.final_stage.user == "10001"


def test_copy_heredoc_is_data():
    dockerfile = parse("""
        FROM scratch
        COPY <<EOF /etc/app.conf
        USER root
        EOF
    """)
    assert dockerfile.final_stage.user is None


def test_heredoc_unterminated_error():
    error = parse_error("FROM debian:12\nRUN <<EOF\necho hi\n")
    assert error.line == 2
    assert "only EOF" in error.message


def test_heredoc_needs_marker_word():
    dockerfile = parse("""
        FROM debian:12
        RUN cat << EOF
        USER 10001
    """)
    assert dockerfile.final_stage.user == "10001"


def test_heredoc_marker_in_quotes_ignored():
    dockerfile = parse("""
        FROM debian:12
        RUN echo "<<EOF"
        USER 10001
    """)
    assert dockerfile.final_stage.user == "10001"


def test_heredoc_in_json_form_ignored():
    dockerfile = parse("""
        FROM debian:12
        RUN ["sh", "-c", "cat <<EOF"]
        USER 10001
    """)
    assert dockerfile.final_stage.user == "10001"


def test_heredoc_only_for_run_copy_add():
    dockerfile = parse("""
        FROM debian:12
        LABEL note=<<EOF
        USER 10001
    """)
    assert dockerfile.final_stage.user == "10001"


def test_heredoc_after_run_flags():
    dockerfile = parse("""
        FROM debian:12
        RUN --mount=type=cache,target=/var/cache/apt <<EOF
        USER root
        EOF
    """)
    run = dockerfile.final_stage.instructions[1]
    assert run.flags == ("--mount=type=cache,target=/var/cache/apt",)
    assert dockerfile.final_stage.user is None


# --- ARG and ENV --------------------------------------------------------------


def test_meta_arg_resolves_base():
    dockerfile = parse("""
        ARG BASE=python:3.12-slim
        FROM ${BASE}
    """)
    assert dockerfile.final_stage.base == "python:3.12-slim"


def test_meta_arg_dollar_form():
    dockerfile = parse("""
        ARG TAG=3.20
        FROM alpine:$TAG
    """)
    assert dockerfile.final_stage.base == "alpine:3.20"


def test_meta_arg_default_uses_earlier_arg():
    dockerfile = parse("""
        ARG VERSION=12
        ARG BASE=gcr.io/distroless/static-debian${VERSION}:nonroot
        FROM $BASE
    """)
    assert dockerfile.final_stage.base == "gcr.io/distroless/static-debian12:nonroot"


def test_meta_arg_invisible_in_stage():
    dockerfile = parse("""
        ARG APP_UID=10001
        FROM python:3.12-slim
        USER ${APP_UID:-0}
    """)
    assert dockerfile.final_stage.user == "0"


def test_redeclared_arg_imports_value():
    dockerfile = parse("""
        ARG APP_UID=10001
        FROM python:3.12-slim
        ARG APP_UID
        USER ${APP_UID:-0}
    """)
    assert dockerfile.final_stage.user == "10001"


def test_stage_arg_default_wins():
    dockerfile = parse("""
        ARG APP_UID=10001
        FROM python:3.12-slim
        ARG APP_UID=20002
        USER $APP_UID
    """)
    assert dockerfile.final_stage.user == "20002"


def test_default_modifier_with_empty_value():
    dockerfile = parse("""
        FROM scratch
        ARG EMPTY=
        ENV COLON=${EMPTY:-fallback} PLAIN=${EMPTY-fallback}
    """)
    env = dockerfile.final_stage.env
    assert env["COLON"] == "fallback"
    assert env["PLAIN"] == ""


def test_alternative_modifier():
    dockerfile = parse("""
        FROM scratch
        ARG SET=yes
        ENV A=${SET:+alt} B=${UNSET:+alt} C=${SET+alt}
    """)
    env = dockerfile.final_stage.env
    assert env["A"] == "alt"
    assert env["B"] == ""
    assert env["C"] == "alt"


def test_nested_default_expands():
    dockerfile = parse("""
        FROM scratch
        ARG INNER=65532
        USER ${OUTER:-${INNER}}
    """)
    assert dockerfile.final_stage.user == "65532"


def test_env_overrides_arg():
    dockerfile = parse("""
        FROM scratch
        ENV APP_UID=10001
        ARG APP_UID=0
        USER $APP_UID
    """)
    assert dockerfile.final_stage.user == "10001"


def test_env_pairs_see_old_values():
    dockerfile = parse("""
        FROM scratch
        ENV A=hello
        ENV A=bye B=$A
    """)
    assert dockerfile.final_stage.env["B"] == "hello"


def test_env_legacy_form():
    dockerfile = parse("""
        FROM scratch
        ENV GREETING hello big world
    """)
    assert dockerfile.final_stage.env["GREETING"] == "hello big world"


def test_quotes_removed_from_values():
    dockerfile = parse("""
        FROM scratch
        ENV A="two words" B='$literal'
        USER "10001"
    """)
    stage = dockerfile.final_stage
    assert stage.env["A"] == "two words"
    assert stage.env["B"] == "$literal"
    assert stage.user == "10001"


def test_escaped_dollar_is_literal():
    dockerfile = parse("""
        FROM scratch
        ENV PRICE=\\$5
    """)
    assert dockerfile.final_stage.env["PRICE"] == "$5"


def test_required_variable_error():
    error = parse_error("FROM scratch\nUSER ${APP_UID:?set APP_UID}\n")
    assert error.line == 2
    assert "set APP_UID" in error.message


def test_unsupported_substitution_error():
    error = parse_error("FROM scratch\nARG V=1.2\nUSER ${V%.*}\n")
    assert "not supported" in error.message


def test_unclosed_brace_error():
    error = parse_error("FROM scratch\nUSER ${APP_UID\n")
    assert "closing }" in error.message


def test_blank_base_rejected():
    error = parse_error("ARG BASE\nFROM ${BASE}\n")
    assert error.line == 2
    assert "empty image name" in error.message


def test_platform_args_predefined():
    dockerfile = parse("""
        FROM --platform=$BUILDPLATFORM golang:1.26 AS build
        ARG TARGETARCH
        ENV GOARCH=$TARGETARCH
    """)
    stage = dockerfile.final_stage
    assert stage.platform == "linux/amd64"
    assert stage.env["GOARCH"] == "amd64"


# --- stages -------------------------------------------------------------------


def test_final_stage_is_last():
    dockerfile = parse("""
        FROM golang:1.26 AS build
        FROM gcr.io/distroless/static-debian12:nonroot AS runtime
        FROM build AS tests
    """)
    assert dockerfile.final_stage.name == "tests"
    assert len(dockerfile.stages) == 3


def test_stage_records_base_line():
    dockerfile = parse("""
        # syntax=docker/dockerfile:1

        FROM golang:1.26 AS build
    """)
    assert dockerfile.final_stage.base_line == 3


def test_from_stage_inherits_user():
    dockerfile = parse("""
        FROM alpine:3.20 AS base
        USER 10001
        FROM base
        CMD ["id"]
    """)
    stage = dockerfile.final_stage
    assert stage.user == "10001"
    assert stage.user_inherited
    assert stage.user_line == 2


def test_from_stage_follows_chain():
    dockerfile = parse("""
        FROM alpine:3.20 AS base
        FROM base AS middle
        FROM middle
    """)
    stage = dockerfile.final_stage
    assert stage.base == "middle"
    assert stage.image == "alpine:3.20"
    assert len(stage.lineage) == 3


def test_stage_alias_is_not_base():
    dockerfile = parse("""
        FROM golang:1.26 AS build
        FROM build
    """)
    assert dockerfile.final_stage.base_stage is dockerfile.stages[0]
    assert dockerfile.final_stage.image == "golang:1.26"


def test_stage_reference_is_case_sensitive():
    dockerfile = parse("""
        FROM alpine:3.20 AS build
        FROM Build
    """)
    assert dockerfile.final_stage.base_stage is None


def test_stage_cannot_name_itself():
    dockerfile = parse("""
        FROM alpine AS alpine
        FROM alpine
    """)
    assert dockerfile.stages[0].base_stage is None
    assert dockerfile.stages[1].base_stage is dockerfile.stages[0]


def test_user_only_in_builder_stage():
    dockerfile = parse("""
        FROM golang:1.26 AS build
        USER 10001
        FROM ubuntu:22.04
    """)
    assert dockerfile.final_stage.user is None


def test_user_root_after_non_root():
    dockerfile = parse("""
        FROM debian:12
        USER 10001
        USER root
    """)
    stage = dockerfile.final_stage
    assert stage.user == "root"
    assert stage.user_line == 3


def test_user_inline_comment_kept():
    dockerfile = parse("""
        FROM scratch
        USER 10001 # the app user
    """)
    assert dockerfile.final_stage.user == "10001 # the app user"


def test_user_without_value_rejected():
    error = parse_error("FROM scratch\nUSER\n")
    assert error.line == 2


def test_entrypoint_clears_inherited_cmd():
    dockerfile = parse("""
        FROM alpine:3.20 AS base
        CMD ["sh"]
        FROM base
        ENTRYPOINT ["/app/server"]
    """)
    assert dockerfile.final_stage.cmd is None


def test_entrypoint_keeps_own_cmd():
    dockerfile = parse("""
        FROM alpine:3.20
        CMD ["--port", "8080"]
        ENTRYPOINT ["/app/server"]
    """)
    assert dockerfile.final_stage.cmd.exec_form == ("--port", "8080")


def test_invalid_stage_name_rejected():
    error = parse_error("FROM alpine AS 1st\n")
    assert "invalid stage name" in error.message


def test_from_argument_count_checked():
    error = parse_error("FROM alpine AS\n")
    assert "FROM image[:tag] [AS name]" in error.message


def test_instruction_before_from_rejected():
    error = parse_error("ARG BASE=alpine\nRUN echo hi\nFROM $BASE\n")
    assert error.line == 2
    assert "before the first FROM" in error.message


def test_missing_from_rejected():
    error = parse_error("# only a comment\nARG X=1\n")
    assert "no FROM instruction" in error.message


# --- exec form ----------------------------------------------------------------


def test_json_cmd_is_exec_form():
    dockerfile = parse('FROM scratch\nCMD ["/app", "--verbose"]\n')
    assert dockerfile.final_stage.cmd.exec_form == ("/app", "--verbose")


def test_single_quotes_are_shell_form():
    dockerfile = parse("FROM scratch\nCMD ['/app']\n")
    cmd = dockerfile.final_stage.cmd
    assert cmd.exec_form is None
    assert "single quotes" in cmd.json_problem


def test_trailing_comma_is_shell_form():
    dockerfile = parse('FROM scratch\nCMD ["/app", "--verbose",]\n')
    cmd = dockerfile.final_stage.cmd
    assert cmd.exec_form is None
    assert "comma" in cmd.json_problem


def test_json_over_continuations_is_exec():
    dockerfile = parse("""
        FROM scratch
        ENTRYPOINT ["/usr/local/bin/server", \\
                    "--port", \\
                    "8080"]
    """)
    entrypoint = dockerfile.final_stage.entrypoint
    assert entrypoint.exec_form == ("/usr/local/bin/server", "--port", "8080")


def test_nan_is_not_json():
    dockerfile = parse("FROM scratch\nCMD [NaN]\n")
    assert dockerfile.final_stage.cmd.exec_form is None


def test_json_non_string_rejected():
    error = parse_error('FROM scratch\nCMD ["/app", 8080]\n')
    assert error.line == 2
    assert "not a string" in error.message


def test_shell_form_cmd():
    dockerfile = parse("FROM scratch\nCMD /app/server\n")
    cmd = dockerfile.final_stage.cmd
    assert cmd.exec_form is None
    assert cmd.json_problem == ""


# --- encoding and size --------------------------------------------------------


def test_crlf_line_endings():
    text = "FROM debian:12\r\nRUN echo \\\r\n  hi\r\nUSER 10001\r\n"
    dockerfile = parse_dockerfile(text)
    stage = dockerfile.final_stage
    assert stage.user == "10001"
    assert stage.instructions[1].value == "echo   hi"


def test_crlf_heredoc_terminator():
    dockerfile = parse_dockerfile("FROM debian:12\r\nRUN <<EOF\r\nUSER root\r\nEOF\r\n")
    assert dockerfile.final_stage.user is None


def test_byte_order_mark_stripped():
    dockerfile = parse_dockerfile("\ufeff# syntax=docker/dockerfile:1\nFROM scratch\n")
    assert dockerfile.directives == {"syntax": "docker/dockerfile:1"}


def test_bom_and_crlf_bytes():
    data = "\ufeffFROM scratch\r\nUSER 65532\r\n".encode()
    dockerfile = parse_dockerfile(data)
    assert dockerfile.final_stage.base == "scratch"
    assert dockerfile.final_stage.user == "65532"


def test_form_feed_is_not_line_break():
    dockerfile = parse_dockerfile("FROM scratch\nLABEL a=b\x0cUSER 0\n")
    assert dockerfile.final_stage.user is None


def test_empty_file_error():
    error = parse_error("")
    assert error.line == 1
    assert "empty" in error.message


def test_blank_file_error():
    error = parse_error(" \n\t\r\n")
    assert "empty" in error.message


def test_nul_bytes_error():
    error = parse_error(b"FROM scratch\n\x00\x01\x02garbage")
    assert error.line == 2
    assert "binary" in error.message


def test_invalid_utf8_error():
    error = parse_error(b"FROM scratch\nUSER \xff\xfe\n")
    assert error.line == 2
    assert "UTF-8" in error.message


def test_lone_surrogate_error():
    error = parse_error("FROM scratch\nUSER \ud800\n")
    assert "UTF-8" in error.message


def test_two_megabyte_file_error():
    error = parse_error("FROM scratch\n" + "# padding line\n" * 140_000)
    assert "1 MiB" in error.message
    assert error.line > 1


def test_limit_is_one_mebibyte():
    text = "FROM scratch\n" + "#" * (MAX_SIZE_BYTES - len("FROM scratch\n"))
    dockerfile = parse_dockerfile(text)
    assert dockerfile.final_stage.base == "scratch"


def test_error_message_names_line():
    error = parse_error("FROM scratch\nUSR 1\n")
    assert str(error).startswith("line 2: ")
