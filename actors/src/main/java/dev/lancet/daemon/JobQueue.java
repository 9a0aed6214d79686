package dev.lancet.daemon;

import com.google.protobuf.Message;
import dev.lancet.actors.WireMessage;
import dev.lancet.jobs.JobProgress;
import dev.lancet.jobs.JobSpec;
import dev.lancet.jobs.PruneJob;
import dev.lancet.jobs.ShotSolver;
import dev.lancet.jobs.SliceJob;
import dev.lancet.proto.daemon.JobList;
import dev.lancet.proto.daemon.JobState;
import dev.lancet.proto.daemon.JobStatus;
import dev.lancet.proto.daemon.QueueAnswer;
import dev.lancet.proto.daemon.QueueJobCall;
import dev.lancet.proto.daemon.QueueList;
import dev.lancet.proto.daemon.QueueSubmit;
import dev.lancet.proto.daemon.Refusal;
import dev.lancet.proto.daemon.StoredJob;
import io.grpc.Status;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The daemon's jobs: a bounded queue (a submission beyond {@code queue-size} waiting jobs is refused with
 * RESOURCE_EXHAUSTED), at most {@code concurrent-jobs} running, and never more than the memory budget in their
 * estimates together. Every change of state is stored ({@link JobStore}) before it is answered, and on start the
 * jobs a stopped daemon left queued or running are queued again, to resume from their last completed shot. Jobs
 * run {@link PruneJob} or {@link SliceJob} on threads of their own; their progress and ends come back here as
 * private messages. What the gRPC service asks and what the queue answers are wire messages (job_queue.proto).
 */
public final class JobQueue extends AbstractBehavior<JobQueue.Command> {

    public sealed interface Command permits Submit, Cancel, Get, ListJobs, Progressed, Ended {
    }

    /** A job the service accepted: planned here (validated, memory estimated), answered with its status or a refusal. */
    public record Submit(StoredJob job, ActorRef<Answer> replyTo) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return QueueSubmit.newBuilder().setJob(job).setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    public record Cancel(String job, ActorRef<Answer> replyTo) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return call(job, replyTo, resolver);
        }
    }

    public record Get(String job, ActorRef<Answer> replyTo) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return call(job, replyTo, resolver);
        }
    }

    private static QueueJobCall call(String job, ActorRef<Answer> replyTo, ActorRefResolver resolver) {
        return QueueJobCall.newBuilder().setJob(job).setReplyTo(resolver.toSerializationFormat(replyTo)).build();
    }

    public record ListJobs(ActorRef<Answer> replyTo) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return QueueList.newBuilder().setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    private record Progressed(String job, String phase, long done, long total)
            implements Command, NoSerializationVerificationNeeded {
    }

    private record Ended(String job, Double perplexity, Throwable failure)
            implements Command, NoSerializationVerificationNeeded {
    }

    /** A job's status, every job's, or why the call was refused. */
    public record Answer(QueueAnswer answer) implements WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return answer;
        }

        /** The status answered, or the refusal thrown as the gRPC status it names. */
        public JobStatus status() {
            requireAnswered();
            return answer.getStatus();
        }

        public JobList jobs() {
            requireAnswered();
            return answer.getJobs();
        }

        private void requireAnswered() {
            if (answer.hasRefused()) {
                throw Status.fromCode(Status.Code.valueOf(answer.getRefused().getCode()))
                        .withDescription(answer.getRefused().getDescription()).asRuntimeException();
            }
        }
    }

    /** What running a stored job takes: its spec and its memory estimate in bytes. */
    public record Planned(JobSpec spec, long memory) {
    }

    /** Limits from {@code lancet.daemon.*}. */
    public record Limits(int queueSize, int concurrentJobs, long memoryBudget) {
    }

    private static final Pattern SHOT = Pattern.compile("^shot (\\d+)/\\d+ ");

    private final JobStore store;
    private final Limits limits;
    private final ExecutorService executor;
    private final Planner planner;
    private final Function<PruneJob.Spec, ShotSolver> solvers;
    private final Map<String, Entry> jobs = new LinkedHashMap<>();
    private final Deque<String> waiting = new ArrayDeque<>();

    /** A job known to this daemon; spec and memory only while it may still run. */
    private static final class Entry {
        final StoredJob job;
        Planned plan;
        JobStatus status;
        boolean running;
        /** The thread running the job, while it does; guarded by the entry. */
        Thread thread;
        volatile boolean cancelled;

        /** Interrupts the job's thread only while it still runs this job. */
        synchronized void interrupt() {
            if (thread != null) {
                thread.interrupt();
            }
        }

        synchronized void runOn(Thread current) {
            thread = current;
            if (current == null) {
                // an interrupt meant for this job must not reach the thread's next one
                Thread.interrupted();
            }
        }

        synchronized boolean isRunningOn(Thread current) {
            return thread == current;
        }

        Entry(StoredJob job, Planned plan, JobStatus status) {
            this.job = job;
            this.plan = plan;
            this.status = status;
        }
    }

    /** How jobs are planned: validated against the daemon's roots and limits, their memory estimated. */
    public interface Planner {
        /** A new job's plan; refused with a {@link io.grpc.StatusRuntimeException} or IllegalArgumentException. */
        Planned plan(StoredJob job);

        /** The plan of a job a stopped daemon left queued or running, resumed in its own output directory. */
        Planned replan(StoredJob job);
    }

    /**
     * @param planner how jobs are planned; a job that cannot be planned again on start fails
     * @param solvers where a job's shots are solved: in the daemon's JVM, or on a cluster
     */
    public static Behavior<Command> create(JobStore store, Limits limits, ExecutorService executor, Planner planner,
                                           Function<PruneJob.Spec, ShotSolver> solvers) {
        return Behaviors.setup(context -> new JobQueue(context, store, limits, executor, planner, solvers));
    }

    private JobQueue(ActorContext<Command> context, JobStore store, Limits limits, ExecutorService executor,
                     Planner planner, Function<PruneJob.Spec, ShotSolver> solvers) throws java.io.IOException {
        super(context);
        this.store = store;
        this.limits = limits;
        this.executor = executor;
        this.planner = planner;
        this.solvers = solvers;
        for (JobStore.Loaded loaded : store.load()) {
            Entry entry = new Entry(loaded.job(), null, loaded.status());
            jobs.put(loaded.job().getId(), entry);
            JobState state = loaded.status().getState();
            if (state == JobState.QUEUED || state == JobState.RUNNING) {
                restore(entry);
            }
        }
        startWhatFits();
    }

    /** Queues again a job a stopped daemon left unfinished; it resumes from its last completed shot. */
    private void restore(Entry entry) {
        try {
            entry.plan = planner.replan(entry.job);
            update(entry, entry.status.toBuilder().setState(JobState.QUEUED).clearPhase().setDone(0).setTotal(0).build());
            waiting.add(entry.job.getId());
        } catch (RuntimeException e) {
            update(entry, entry.status.toBuilder().setState(JobState.FAILED)
                    .setError("cannot resume after a restart: " + DaemonService.reason(e)).build());
        }
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Submit.class, this::onSubmit)
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(Get.class, this::onGet)
                .onMessage(ListJobs.class, this::onList)
                .onMessage(Progressed.class, this::onProgressed)
                .onMessage(Ended.class, this::onEnded)
                .build();
    }

    private Behavior<Command> onSubmit(Submit submit) {
        Planned plan;
        try {
            plan = planner.plan(submit.job());
        } catch (RuntimeException e) {
            submit.replyTo().tell(refused(DaemonService.toStatus(e).getStatus()));
            return this;
        }
        for (Entry other : jobs.values()) {
            if (other.plan != null && other.plan.spec().out().equals(plan.spec().out())) {
                submit.replyTo().tell(refused(Status.INVALID_ARGUMENT.withDescription("out is the output directory of "
                        + other.job.getId() + ", which has not ended")));
                return this;
            }
        }
        if (waiting.size() >= limits.queueSize()) {
            submit.replyTo().tell(refused(Status.RESOURCE_EXHAUSTED.withDescription("the queue is full ("
                    + limits.queueSize() + " jobs waiting); try again later")));
            return this;
        }
        StoredJob job = submit.job().toBuilder().setOut(plan.spec().out().toString()).build();
        JobStatus status = JobStatus.newBuilder().setJob(job.getId()).setState(JobState.QUEUED)
                .setShots(plan.spec().shots()).setOut(job.getOut()).build();
        store.create(job, status);
        jobs.put(job.getId(), new Entry(job, plan, status));
        waiting.add(job.getId());
        submit.replyTo().tell(answer(status));
        startWhatFits();
        return this;
    }

    private static Answer answer(JobStatus status) {
        return new Answer(QueueAnswer.newBuilder().setStatus(status).build());
    }

    private static Answer refused(Status status) {
        return new Answer(QueueAnswer.newBuilder().setRefused(Refusal.newBuilder().setCode(status.getCode().name())
                .setDescription(status.getDescription())).build());
    }

    private Behavior<Command> onCancel(Cancel cancel) {
        Entry entry = jobs.get(cancel.job());
        if (entry == null) {
            cancel.replyTo().tell(unknown(cancel.job()));
            return this;
        }
        if (entry.status.getState() == JobState.QUEUED) {
            waiting.remove(cancel.job());
            entry.plan = null;
            update(entry, entry.status.toBuilder().setState(JobState.CANCELLED).build());
        } else if (entry.status.getState() == JobState.RUNNING) {
            // the job's thread stops at its next progress report or wait; Ended then records it
            entry.cancelled = true;
            entry.interrupt();
        }
        cancel.replyTo().tell(answer(entry.status));
        return this;
    }

    private static Answer unknown(String job) {
        return refused(Status.NOT_FOUND.withDescription("no job '" + job + "'"));
    }

    private Behavior<Command> onGet(Get get) {
        Entry entry = jobs.get(get.job());
        get.replyTo().tell(entry == null ? unknown(get.job()) : answer(entry.status));
        return this;
    }

    private Behavior<Command> onList(ListJobs list) {
        JobList.Builder all = JobList.newBuilder();
        jobs.values().forEach(e -> all.addJobs(e.status));
        list.replyTo().tell(new Answer(QueueAnswer.newBuilder().setJobs(all).build()));
        return this;
    }

    private Behavior<Command> onProgressed(Progressed p) {
        Entry entry = jobs.get(p.job());
        if (entry.status.getState() == JobState.RUNNING) {
            JobStatus.Builder status = entry.status.toBuilder().setPhase(p.phase()).setDone(p.done()).setTotal(p.total());
            Matcher shot = SHOT.matcher(p.phase());
            if (shot.find()) {
                status.setShotsDone(Integer.parseInt(shot.group(1)) - 1);
            } else if (p.phase().startsWith("final")) {
                status.setShotsDone(entry.plan.spec().shots());
            }
            // progress is kept in memory only: a restarted job reports afresh from its last checkpoint
            entry.status = status.build();
        }
        return this;
    }

    private Behavior<Command> onEnded(Ended ended) {
        Entry entry = jobs.get(ended.job());
        JobStatus.Builder status = entry.status.toBuilder().clearPhase().setDone(0).setTotal(0);
        if (ended.failure() == null) {
            status.setState(JobState.DONE).setShotsDone(entry.plan.spec().shots()).setPerplexity(ended.perplexity());
        } else if (entry.cancelled) {
            status.setState(JobState.CANCELLED);
        } else {
            status.setState(JobState.FAILED).setError(DaemonService.reason(ended.failure()));
        }
        entry.plan = null;
        entry.running = false;
        update(entry, status.build());
        startWhatFits();
        return this;
    }

    private void update(Entry entry, JobStatus status) {
        store.update(status);
        entry.status = status;
    }

    /** Starts waiting jobs, oldest first, while the concurrency limit and the memory budget allow. */
    private void startWhatFits() {
        while (!waiting.isEmpty()) {
            long running = jobs.values().stream().filter(e -> e.running).count();
            long memory = jobs.values().stream().filter(e -> e.running).mapToLong(e -> e.plan.memory()).sum();
            Entry next = jobs.get(waiting.peek());
            if (running >= limits.concurrentJobs() || (running > 0 && memory + next.plan.memory() > limits.memoryBudget())) {
                return;
            }
            waiting.poll();
            start(next);
        }
    }

    private void start(Entry entry) {
        String id = entry.job.getId();
        update(entry, entry.status.toBuilder().setState(JobState.RUNNING).build());
        ActorRef<Command> self = getContext().getSelf();
        JobSpec spec = entry.plan.spec();
        JobProgress progress = (phase, done, total) -> {
            if (entry.cancelled && entry.isRunningOn(Thread.currentThread())) {
                throw new CancellationException("cancelled");
            }
            self.tell(new Progressed(id, phase, done, total));
        };
        entry.running = true;
        executor.execute(() -> {
            entry.runOn(Thread.currentThread());
            Ended ended;
            try {
                ended = new Ended(id, run(spec, progress).perplexity(), null);
            } catch (Throwable t) {
                ended = new Ended(id, null, t);
            } finally {
                entry.runOn(null);
            }
            self.tell(ended);
        });
    }

    private PruneJob.Result run(JobSpec spec, JobProgress progress) throws java.io.IOException, InterruptedException {
        if (spec instanceof PruneJob.Spec prune) {
            try (ShotSolver solver = solvers.apply(prune)) {
                return PruneJob.run(prune, progress, solver);
            }
        }
        return SliceJob.run((SliceJob.Spec) spec, progress);
    }
}
