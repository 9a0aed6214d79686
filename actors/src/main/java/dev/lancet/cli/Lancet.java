package dev.lancet.cli;

import dev.lancet.engine.io.CheckpointException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code lancet} command line: one subcommand per job. */
@Command(name = "lancet", mixinStandardHelpOptions = true, version = "lancet 0.1.0",
        description = "Curvature-aware pruning of Hugging Face causal LMs (OPT, Llama) on the JVM.",
        subcommands = {PruneCommand.class, RecoverCommand.class, EvalCommand.class, CurvatureCommand.class,
                EditCommand.class, SynthCommand.class, BenchCommand.class, DaemonCommand.class, ClientCommand.class, NodeCommand.class})
public final class Lancet implements Runnable {

    /** Exit code for bad input (files, flags, data): the message says what and where. */
    public static final int BAD_INPUT = 2;

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print stack traces on errors.")
    boolean debug;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (tests call this instead of main). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Lancet());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            boolean debug = parseResult.hasMatchedOption("--debug")
                    || parseResult.subcommands().stream().anyMatch(p -> p.hasMatchedOption("--debug"));
            PrintWriter err = commandLine.getErr();
            if (debug) {
                e.printStackTrace(err);
            }
            if (e instanceof io.grpc.StatusRuntimeException refusal) {
                return ClientCommand.refused(refusal, err);
            }
            if (e instanceof CheckpointException || e instanceof IllegalArgumentException) {
                err.println("lancet: " + e.getMessage());
                err.flush();
                return BAD_INPUT;
            }
            err.println("lancet: internal error: " + e + (debug ? "" : " (run with --debug for details)"));
            err.flush();
            return 1;
        });
        return cli.execute(args);
    }
}
