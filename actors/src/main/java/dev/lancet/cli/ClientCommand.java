package dev.lancet.cli;

import dev.lancet.proto.daemon.AddDataRequest;
import dev.lancet.proto.daemon.CurvatureStatus;
import dev.lancet.proto.daemon.JobList;
import dev.lancet.proto.daemon.JobRef;
import dev.lancet.proto.daemon.JobState;
import dev.lancet.proto.daemon.JobStatus;
import dev.lancet.proto.daemon.ListRequest;
import dev.lancet.proto.daemon.PruningDaemonGrpc;
import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Parameters;

/**
 * {@code lancet client}: one call to the daemon per command. It checks nothing beyond flag types: the daemon is
 * the one place requests are validated, and a refusal is printed as its gRPC status and reason (exit 2).
 */
@Command(name = "client", mixinStandardHelpOptions = true,
        description = "Drive a running `lancet daemon`.",
        subcommands = {ClientCommand.Submit.class, ClientCommand.StatusCall.class, ClientCommand.Wait.class,
                ClientCommand.Cancel.class, ClientCommand.ListCall.class, ClientCommand.Watch.class,
                ClientCommand.AddData.class, ClientCommand.Reprune.class})
final class ClientCommand implements Runnable {

    @Option(names = "--server", paramLabel = "HOST:PORT", description = "The daemon (default: ${DEFAULT-VALUE}).")
    String server = "127.0.0.1:7011";

    @Option(names = "--token-file", paramLabel = "FILE", description = "File holding the daemon's bearer token.")
    Path tokenFile;

    @Option(names = "--tls-cert", paramLabel = "PEM", description = "Connect over TLS, trusting this certificate.")
    Path tlsCert;

    @Option(names = "--timeout", paramLabel = "SECONDS",
            description = "Deadline of each call, except wait and watch (default: ${DEFAULT-VALUE}).")
    long timeout = 600;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Opens a channel to the daemon and runs {@code call} with a stub carrying the token, if any. */
    private <T> T call(boolean bounded, StubCall<T> call) throws IOException {
        HostPort address = HostPort.parse("--server", server);
        ChannelCredentials credentials = tlsCert == null ? InsecureChannelCredentials.create()
                : TlsChannelCredentials.newBuilder().trustManager(tlsCert.toFile()).build();
        ManagedChannel channel = Grpc.newChannelBuilderForAddress(address.host(), address.port(), credentials).build();
        try {
            PruningDaemonGrpc.PruningDaemonBlockingStub stub = PruningDaemonGrpc.newBlockingStub(channel);
            if (tokenFile != null) {
                stub = stub.withCallCredentials(bearer(Files.readString(tokenFile).strip()));
            }
            if (bounded) {
                stub = stub.withDeadlineAfter(timeout, TimeUnit.SECONDS);
            }
            return call.on(stub);
        } finally {
            channel.shutdownNow();
        }
    }

    private interface StubCall<T> {
        T on(PruningDaemonGrpc.PruningDaemonBlockingStub stub);
    }

    private static CallCredentials bearer(String token) {
        return new CallCredentials() {
            @Override
            public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
                Metadata headers = new Metadata();
                headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
                applier.apply(headers);
            }
        };
    }

    /** A job's status: a line for people, and with --json one object as the last line. */
    private static void print(JobStatus s, boolean json) {
        System.out.printf(Locale.ROOT, "%s %s  shots %d/%d%s%s%s%n", s.getJob(), s.getState(), s.getShotsDone(),
                s.getShots(), s.hasPerplexity() ? String.format(Locale.ROOT, "  perplexity %.4f", s.getPerplexity()) : "",
                s.getPhase().isEmpty() ? "" : "  " + s.getPhase() + " " + s.getDone() + "/" + s.getTotal(),
                s.getError().isEmpty() ? "" : "  error: " + s.getError());
        if (json) {
            System.out.println(Json.object(fields(s)));
        }
    }

    private static Object[] fields(JobStatus s) {
        return new Object[] {"job", s.getJob(), "state", s.getState().name(), "shots_done", s.getShotsDone(),
                "shots", s.getShots(), "perplexity", s.hasPerplexity() ? s.getPerplexity() : null, "out", s.getOut(),
                "error", s.getError().isEmpty() ? null : s.getError()};
    }

    @Command(name = "submit", mixinStandardHelpOptions = true,
            description = "Queue a pruning job; takes every flag of `lancet prune`.")
    static final class Submit implements Callable<Integer> {
        @ParentCommand
        ClientCommand client;
        @Mixin
        PruneOptions options;
        @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
        boolean json;

        @Override
        public Integer call() throws IOException {
            JobStatus s = client.call(true, stub -> stub.submit(options.withJobFile().toRequest()));
            System.out.println(s.getJob() + " " + s.getState());
            if (json) {
                System.out.println(Json.object("job", s.getJob(), "state", s.getState().name()));
            }
            return 0;
        }
    }

    /** Commands that name one job. */
    abstract static class OnJob implements Callable<Integer> {
        @ParentCommand
        ClientCommand client;
        @Parameters(paramLabel = "JOB", description = "The job's id (job-N).")
        String job;
        @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
        boolean json;

        JobRef ref() {
            return JobRef.newBuilder().setJob(job).build();
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "A job's state and progress.")
    static final class StatusCall extends OnJob {
        @Override
        public Integer call() throws IOException {
            print(client.call(true, stub -> stub.status(ref())), json);
            return 0;
        }
    }

    @Command(name = "wait", mixinStandardHelpOptions = true,
            description = "Wait for a job to end; exit 0 when DONE, 1 when FAILED or CANCELLED.")
    static final class Wait extends OnJob {
        @Override
        public Integer call() throws IOException {
            JobStatus s = client.call(false, stub -> stub.wait(ref()));
            print(s, json);
            return s.getState() == JobState.DONE ? 0 : 1;
        }
    }

    @Command(name = "cancel", mixinStandardHelpOptions = true, description = "Cancel a queued or running job.")
    static final class Cancel extends OnJob {
        @Override
        public Integer call() throws IOException {
            print(client.call(true, stub -> stub.cancel(ref())), json);
            return 0;
        }
    }

    @Command(name = "reprune", mixinStandardHelpOptions = true,
            description = "A new job with JOB's spec, its first shot on the model's current stored curvature.")
    static final class Reprune extends OnJob {
        @Override
        public Integer call() throws IOException {
            JobStatus s = client.call(true, stub -> stub.reprune(ref()));
            System.out.println(s.getJob() + " " + s.getState());
            if (json) {
                System.out.println(Json.object("job", s.getJob(), "state", s.getState().name(), "reprune_of", job));
            }
            return 0;
        }
    }

    @Command(name = "watch", mixinStandardHelpOptions = true,
            description = "Print a job's status at every change until it ends; exit as wait does.")
    static final class Watch extends OnJob {
        @Override
        public Integer call() throws IOException {
            JobStatus last = client.call(false, stub -> {
                JobStatus s = null;
                for (Iterator<JobStatus> it = stub.watch(ref()); it.hasNext(); ) {
                    s = it.next();
                    print(s, false);
                }
                return s;
            });
            if (json && last != null) {
                System.out.println(Json.object(fields(last)));
            }
            return last != null && last.getState() == JobState.DONE ? 0 : 1;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every job the daemon knows.")
    static final class ListCall implements Callable<Integer> {
        @ParentCommand
        ClientCommand client;
        @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
        boolean json;

        @Override
        public Integer call() throws IOException {
            JobList jobs = client.call(true, stub -> stub.list(ListRequest.getDefaultInstance()));
            jobs.getJobsList().forEach(s -> print(s, false));
            if (json) {
                System.out.println(Json.object("jobs", jobs.getJobsList().stream().map(s -> Json.map(fields(s))).toList()));
            }
            return 0;
        }
    }

    @Command(name = "add-data", mixinStandardHelpOptions = true,
            description = "Fold new calibration windows into the model's stored dense curvature; the data is kept.")
    static final class AddData implements Callable<Integer> {
        @ParentCommand
        ClientCommand client;
        @Option(names = "--model", paramLabel = "DIR", required = true, description = "The model (as the daemon sees it).")
        String model;
        @Option(names = "--calibration", paramLabel = "FILE", arity = "1..*", required = true,
                description = "Calibration text files.")
        List<String> calibration;
        @Option(names = "--samples", paramLabel = "N", description = "Windows (daemon default 128).")
        Integer samples;
        @Option(names = "--seqlen", paramLabel = "L", description = "Tokens per window (daemon default 128).")
        Integer seqlen;
        @Option(names = "--sampling", paramLabel = "MODE", description = "random or sequential (daemon default random).")
        String sampling;
        @Option(names = "--seed", paramLabel = "S", description = "Seed of random windows (daemon default 0).")
        Long seed;
        @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
        boolean json;

        @Override
        public Integer call() throws IOException {
            AddDataRequest.Builder r = AddDataRequest.newBuilder().setModel(model).addAllCalibration(calibration);
            if (samples != null) {
                r.setSamples(samples);
            }
            if (seqlen != null) {
                r.setSeqlen(seqlen);
            }
            if (sampling != null) {
                r.setSampling(sampling);
            }
            if (seed != null) {
                r.setSeed(seed);
            }
            CurvatureStatus s = client.call(true, stub -> stub.addData(r.build()));
            System.out.printf(Locale.ROOT, "%s: curvature version %d, %d tokens (%d new) in %.1f s%n", s.getModel(),
                    s.getVersion(), s.getTokens(), s.getNewTokens(), s.getSeconds());
            if (json) {
                System.out.println(Json.object("model", s.getModel(), "version", s.getVersion(), "tokens", s.getTokens(),
                        "new_tokens", s.getNewTokens(), "seconds", s.getSeconds()));
            }
            return 0;
        }
    }

    /** The exit code and line of a call the daemon refused or could not take. */
    static int refused(io.grpc.StatusRuntimeException e, java.io.PrintWriter err) {
        Status.Code code = e.getStatus().getCode();
        err.println("lancet: " + code + ": " + (e.getStatus().getDescription() == null ? "(no reason given)"
                : e.getStatus().getDescription()));
        err.flush();
        return switch (code) {
            case INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED -> Lancet.BAD_INPUT;
            default -> 1;
        };
    }
}
