package dev.lancet.daemon;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.TensorInfo;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.prune.ShotUnits;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Windows;
import dev.lancet.jobs.JobSpec;
import dev.lancet.jobs.PruneJob;
import dev.lancet.jobs.SliceJob;
import dev.lancet.jobs.StoredCalibration;
import dev.lancet.proto.daemon.AddDataRequest;
import dev.lancet.proto.daemon.CurvatureStatus;
import dev.lancet.proto.daemon.JobList;
import dev.lancet.proto.daemon.JobRef;
import dev.lancet.proto.daemon.JobState;
import dev.lancet.proto.daemon.JobStatus;
import dev.lancet.proto.daemon.ListRequest;
import dev.lancet.proto.daemon.PruneRequest;
import dev.lancet.proto.daemon.PruningDaemonGrpc;
import dev.lancet.proto.daemon.StoredJob;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Scheduler;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * The daemon's gRPC service, and the one place requests are validated: every path confined to the roots
 * ({@link PathGuard}), every flag checked as {@code lancet prune} checks it, the model opened and its memory
 * estimated, all before anything is written; a refused call ends with a status naming why, and the daemon goes on.
 */
final class DaemonService extends PruningDaemonGrpc.PruningDaemonImplBase implements JobQueue.Planner {

    private static final Pattern JOB_ID = Pattern.compile("job-\\d{1,18}");
    private static final Duration ASK = Duration.ofSeconds(30);
    private static final long POLL_MILLIS = 200;
    /** Calibration and evaluation windows are int arrays of windows × length tokens. */
    private static final long MAX_TOKENS = Integer.MAX_VALUE / 2;

    private final PathGuard guard;
    private final JobStore jobs;
    private final CurvatureStore curvature;
    private final Daemon.SpecFactory specs;
    private final long memoryBudget;
    private final Semaphore addDataSlots;
    private final AtomicLong nextJob;
    private final ScheduledExecutorService ticker;
    private ActorRef<JobQueue.Command> queue;
    private Scheduler scheduler;

    DaemonService(PathGuard guard, JobStore jobs, CurvatureStore curvature, Daemon.SpecFactory specs, long memoryBudget,
                  int pendingAddData, ScheduledExecutorService ticker) throws java.io.IOException {
        this.guard = guard;
        this.jobs = jobs;
        this.curvature = curvature;
        this.specs = specs;
        this.memoryBudget = memoryBudget;
        this.addDataSlots = new Semaphore(pendingAddData);
        this.nextJob = new AtomicLong(jobs.nextNumber());
        this.ticker = ticker;
    }

    void attach(ActorRef<JobQueue.Command> queue, Scheduler scheduler) {
        this.queue = queue;
        this.scheduler = scheduler;
    }

    // ---- planning: request → spec, validated, memory estimated ----

    /** A new job's plan; nothing is written. */
    @Override
    public JobQueue.Planned plan(StoredJob job) {
        Path own = jobs.ownDirectory(job.getId());
        JobSpec spec = withStoredCurvature(specs.spec(job.getRequest(), guard::resolve, own), job);
        if (!spec.out().equals(own)) {
            if (Files.exists(spec.out()) && !Files.isDirectory(spec.out())) {
                throw Status.INVALID_ARGUMENT.withDescription("out is a file, not a directory").asRuntimeException();
            }
            if (!spec.resume() && Files.exists(spec.out().resolve("progress.json"))) {
                throw Status.INVALID_ARGUMENT.withDescription("out already holds a pruning run; resume it or choose "
                        + "another output directory").asRuntimeException();
            }
        }
        return check(spec);
    }

    /** A stored job's plan on restart: its own output directory and pinned curvature, resumed. */
    @Override
    public JobQueue.Planned replan(StoredJob job) {
        JobSpec spec = specs.spec(job.getRequest(), guard::resolve, Path.of(job.getOut()));
        return check(withStoredCurvature(spec, job).withOut(Path.of(job.getOut()), true));
    }

    /** A re-prune's spec, on the calibration data it pinned (only pruning jobs are re-pruned). */
    private static JobSpec withStoredCurvature(JobSpec spec, StoredJob job) {
        StoredCalibration pinned = CurvatureStore.pinned(job);
        return pinned == null ? spec : ((PruneJob.Spec) spec).withStored(pinned);
    }

    private JobQueue.Planned check(JobSpec spec) {
        requireFile("model", spec.model(), true);
        for (Path file : spec.calibration()) {
            requireFile("calibration", file, false);
            requireText("calibration", file);
        }
        requireFile("eval", spec.eval(), false);
        if ((long) spec.samples() * spec.seqlen() > MAX_TOKENS) {
            throw Status.INVALID_ARGUMENT.withDescription("samples × seqlen is too large").asRuntimeException();
        }
        try (Checkpoint checkpoint = Checkpoint.open(spec.model())) {
            long memory;
            if (spec instanceof PruneJob.Spec prune) {
                checkpoint.requirePositions(prune.seqlen());
                checkpoint.requirePositions(prune.evalSeqlen());
                ShotUnits.check(checkpoint.layout(), prune.structure());
                memory = memory(checkpoint, prune);
            } else {
                SliceJob.Spec slice = (SliceJob.Spec) spec;
                memory = memory(checkpoint, slice, SliceJob.width(checkpoint, slice));
            }
            if (memory > memoryBudget) {
                throw Status.RESOURCE_EXHAUSTED.withDescription(String.format(Locale.ROOT,
                        "the job needs about %.1f GB, more than the daemon's memory budget of %.1f GB",
                        memory / 1e9, memoryBudget / 1e9)).asRuntimeException();
            }
            return new JobQueue.Planned(spec, memory);
        }
    }

    /** The path must be under a root (checked again: defaults too) and exist. */
    private void requireFile(String field, Path path, boolean directory) {
        Path resolved = guard.resolve(field, path.toString());
        if (directory ? !Files.isDirectory(resolved) : !Files.isRegularFile(resolved)) {
            throw Status.NOT_FOUND.withDescription(field + " '" + path.getFileName() + "' does not exist")
                    .asRuntimeException();
        }
    }

    private static void requireText(String field, Path file) {
        try {
            if (Files.size(file) == 0) {
                throw Status.INVALID_ARGUMENT.withDescription(field + " '" + file.getFileName() + "' is empty")
                        .asRuntimeException();
            }
        } catch (java.io.IOException e) {
            throw Status.NOT_FOUND.withDescription(field + " '" + file.getFileName() + "' is unreadable")
                    .asRuntimeException();
        }
    }

    /**
     * A pruning job's peak memory, estimated from its model: the fp32 weights twice (the model and the shot checkpoint
     * being written), every layer's fp64 KFAC sums (packed upper triangles), each worker's one layer of dense fp64
     * factors and their inverses, the calibration windows, and one batch's logits and block activations.
     */
    static long memory(Checkpoint checkpoint, PruneJob.Spec spec) {
        long sums = 0;
        long largestLayer = 0;
        for (LinearLayout l : checkpoint.layout().linears()) {
            long a = l.inputsWithBias();
            long g = l.out();
            sums += (a * (a + 1) / 2 + g * (g + 1) / 2) * Double.BYTES;
            largestLayer = Math.max(largestLayer, 2 * (a * a + g * g) * Double.BYTES);
        }
        return 2 * weights(checkpoint) + sums + spec.workers() * largestLayer + windowsAndActivations(checkpoint, spec);
    }

    /**
     * A slicing job's peak memory: the fp32 weights twice and the fp64 copy slicing rotates, one place's D × D fp64
     * second moment with its eigenvectors and the {@code width}-wide basis, the calibration windows, and one batch's
     * logits and block activations.
     */
    static long memory(Checkpoint checkpoint, SliceJob.Spec spec, int width) {
        long d = checkpoint.config().hiddenSize();
        return 4 * weights(checkpoint) + (2 * d * d + d * width) * Double.BYTES
                + windowsAndActivations(checkpoint, spec);
    }

    private static long weights(Checkpoint checkpoint) {
        return checkpoint.tensors().stream().mapToLong(TensorInfo::elements).sum() * Float.BYTES;
    }

    private static long windowsAndActivations(Checkpoint checkpoint, JobSpec spec) {
        long tokens = (long) spec.batch() * Math.max(spec.seqlen(), spec.evalSeqlen());
        long activations = tokens * (checkpoint.config().vocabSize() + 16L * checkpoint.config().hiddenSize()
                * checkpoint.layout().numBlocks()) * Float.BYTES;
        return (long) spec.samples() * spec.seqlen() * Integer.BYTES + activations;
    }

    // ---- calls ----

    @Override
    public void submit(PruneRequest request, StreamObserver<JobStatus> response) {
        answer(response, () -> {
            StoredJob job = StoredJob.newBuilder().setFormat(JobStore.FORMAT).setId(JobStore.id(nextJob.getAndIncrement()))
                    .setRequest(request).build();
            return enqueue(job);
        });
    }

    /** The queue plans the job ({@link #plan}) and stores it, or answers why not. */
    private CompletionStage<JobStatus> enqueue(StoredJob job) {
        return AskPattern.<JobQueue.Command, JobQueue.Answer>ask(queue, reply -> new JobQueue.Submit(job, reply),
                ASK, scheduler).thenApply(JobQueue.Answer::status);
    }

    @Override
    public void status(JobRef request, StreamObserver<JobStatus> response) {
        answer(response, () -> get(request.getJob()));
    }

    private CompletionStage<JobStatus> get(String job) {
        requireJobId(job);
        return AskPattern.<JobQueue.Command, JobQueue.Answer>ask(queue, reply -> new JobQueue.Get(job, reply), ASK,
                scheduler).thenApply(JobQueue.Answer::status);
    }

    @Override
    public void cancel(JobRef request, StreamObserver<JobStatus> response) {
        answer(response, () -> {
            requireJobId(request.getJob());
            return AskPattern.<JobQueue.Command, JobQueue.Answer>ask(queue,
                    reply -> new JobQueue.Cancel(request.getJob(), reply), ASK, scheduler).thenApply(JobQueue.Answer::status);
        });
    }

    @Override
    public void list(ListRequest request, StreamObserver<JobList> response) {
        answer(response, () -> AskPattern.<JobQueue.Command, JobQueue.Answer>ask(queue, JobQueue.ListJobs::new, ASK,
                scheduler).thenApply(JobQueue.Answer::jobs));
    }

    @Override
    public void wait(JobRef request, StreamObserver<JobStatus> response) {
        answer(response, () -> {
            requireJobId(request.getJob());
            return null;
        }, false);
        poll(request.getJob(), response, false, null);
    }

    @Override
    public void watch(JobRef request, StreamObserver<JobStatus> response) {
        answer(response, () -> {
            requireJobId(request.getJob());
            return null;
        }, false);
        poll(request.getJob(), response, true, null);
    }

    /** Asks for the job's status until it has ended; every change is sent when streaming, else only the last. */
    private void poll(String job, StreamObserver<JobStatus> response, boolean stream, JobStatus last) {
        if (!JOB_ID.matcher(job).matches() || ((ServerCallStreamObserver<JobStatus>) response).isCancelled()) {
            return;
        }
        get(job).whenComplete((status, error) -> {
            if (error != null) {
                response.onError(toStatus(error));
                return;
            }
            if (stream && !status.equals(last)) {
                response.onNext(status);
            }
            if (ended(status.getState())) {
                if (!stream) {
                    response.onNext(status);
                }
                response.onCompleted();
            } else {
                ticker.schedule(() -> poll(job, response, stream, status), POLL_MILLIS, TimeUnit.MILLISECONDS);
            }
        });
    }

    static boolean ended(JobState state) {
        return state == JobState.DONE || state == JobState.FAILED || state == JobState.CANCELLED;
    }

    @Override
    public void reprune(JobRef request, StreamObserver<JobStatus> response) {
        answer(response, () -> {
            requireJobId(request.getJob());
            StoredJob original = jobs.read(request.getJob()).orElseThrow(() -> Status.NOT_FOUND
                    .withDescription("no job '" + request.getJob() + "'").asRuntimeException());
            JobSpec spec = specs.spec(original.getRequest(), guard::resolve, Path.of(original.getOut()));
            if (!(spec instanceof PruneJob.Spec)) {
                throw Status.INVALID_ARGUMENT.withDescription(original.getId() + " is a slicegpt job, which measures "
                        + "its own second moments: there is no curvature state to re-prune it with; submit it again")
                        .asRuntimeException();
            }
            // the new job writes where the daemon chooses: the original's output directory is the original's
            PruneRequest fresh = original.getRequest().toBuilder().clearOut().setResume(false).build();
            return enqueue(curvature.pin(spec.model(), StoredJob.newBuilder().setFormat(JobStore.FORMAT)
                    .setId(JobStore.id(nextJob.getAndIncrement())).setRequest(fresh).setRepruneOf(original.getId()))
                    .build());
        });
    }

    @Override
    public void addData(AddDataRequest request, StreamObserver<CurvatureStatus> response) {
        try {
            if (!addDataSlots.tryAcquire()) {
                throw Status.RESOURCE_EXHAUSTED.withDescription("too many add-data calls in progress; try again later")
                        .asRuntimeException();
            }
            try {
                response.onNext(curvature.add(batch(request)));
                response.onCompleted();
            } finally {
                addDataSlots.release();
            }
        } catch (Throwable e) {
            response.onError(toStatus(e));
        }
    }

    private CurvatureStore.Batch batch(AddDataRequest r) {
        if (r.getModel().isEmpty()) {
            throw Status.INVALID_ARGUMENT.withDescription("model is required").asRuntimeException();
        }
        if (r.getCalibrationCount() == 0) {
            throw Status.INVALID_ARGUMENT.withDescription("at least one calibration file is required").asRuntimeException();
        }
        Path model = guard.resolve("model", r.getModel());
        requireFile("model", model, true);
        List<Path> files = r.getCalibrationList().stream().map(f -> guard.resolve("calibration", f)).toList();
        files.forEach(f -> {
            requireFile("calibration", f, false);
            requireText("calibration", f);
        });
        int samples = r.hasSamples() ? r.getSamples() : 128;
        int seqlen = r.hasSeqlen() ? r.getSeqlen() : 128;
        if (samples < 1) {
            throw Status.INVALID_ARGUMENT.withDescription("samples must be >= 1, got " + samples).asRuntimeException();
        }
        Windows.requireLength(seqlen);
        if ((long) samples * seqlen > MAX_TOKENS) {
            throw Status.INVALID_ARGUMENT.withDescription("samples × seqlen is too large").asRuntimeException();
        }
        String sampling = r.hasSampling() ? r.getSampling() : "random";
        CalibrationSource.Sampling mode = switch (sampling) {
            case "random" -> CalibrationSource.Sampling.RANDOM;
            case "sequential" -> CalibrationSource.Sampling.SEQUENTIAL;
            default -> throw Status.INVALID_ARGUMENT.withDescription("sampling must be random or sequential")
                    .asRuntimeException();
        };
        return new CurvatureStore.Batch(model, files, samples, seqlen, mode, r.hasSeed() ? r.getSeed() : 0);
    }

    private static void requireJobId(String job) {
        if (!JOB_ID.matcher(job).matches()) {
            throw Status.INVALID_ARGUMENT.withDescription("not a job id: expected job-<number>").asRuntimeException();
        }
    }

    // ---- errors ----

    private interface Call<T> {
        CompletionStage<T> start();
    }

    private static <T> void answer(StreamObserver<T> response, Call<T> call) {
        answer(response, call, true);
    }

    /** Runs a call's synchronous part; a refusal there, or of its answer, ends the call with its status. */
    private static <T> void answer(StreamObserver<T> response, Call<T> call, boolean unary) {
        try {
            CompletionStage<T> answer = call.start();
            if (unary) {
                answer.whenComplete((value, error) -> {
                    if (error != null) {
                        response.onError(toStatus(error));
                    } else {
                        response.onNext(value);
                        response.onCompleted();
                    }
                });
            }
        } catch (Throwable e) {
            response.onError(toStatus(e));
        }
    }

    /** The status a failure is answered with: the refusal itself, bad input, or an internal error. */
    static StatusRuntimeException toStatus(Throwable e) {
        Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
        if (cause instanceof StatusRuntimeException s) {
            return s;
        }
        if (cause instanceof CheckpointException || cause instanceof IllegalArgumentException) {
            return Status.INVALID_ARGUMENT.withDescription(reason(cause)).asRuntimeException();
        }
        return Status.INTERNAL.withDescription(reason(cause)).asRuntimeException();
    }

    /** One line saying what went wrong. */
    static String reason(Throwable e) {
        if (e instanceof StatusRuntimeException s) {
            return s.getStatus().getDescription();
        }
        String message = e.getMessage();
        String line = message == null ? e.getClass().getSimpleName() : message.strip().replaceAll("\\s*\\R\\s*", " ");
        return e instanceof CheckpointException || e instanceof IllegalArgumentException ? line
                : e.getClass().getSimpleName() + ": " + line;
    }
}
