package dev.lancet.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.calibration.CalibrationPipeline;
import dev.lancet.actors.calibration.CalibrationWork;
import dev.lancet.actors.calibration.SnapshotStore;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.slicegpt.SecondMoments;
import dev.lancet.engine.text.CalibrationSource;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Calibration runs through the actor pipeline, in an actor system of their own or in a cluster member's: KFAC factors
 * reported as progress in batches, or SliceGPT's second moments place by place.
 */
public final class Calibration {

    /** Progress through the actors is counted in batches. */
    static final String BATCHES = "batches";

    private Calibration() {
    }

    /** The pipeline's tunables from lancet.calibration.*, the batch size overridden unless null. */
    static CalibrationCoordinator.Settings settings(Integer batch, Precision precision) {
        Config config = ConfigFactory.load();
        return new CalibrationCoordinator.Settings(batch != null ? batch : config.getInt("lancet.calibration.batch-size"),
                config.getInt("lancet.calibration.max-in-flight"), config.getInt("lancet.calibration.snapshot-every"),
                precision, PerCore.count(config, "lancet.calibration.workers"));
    }

    /**
     * KFAC factors of {@code model} over {@code source}, plus {@code base} unless null, from a run in an actor system
     * of its own. The caller owns (closes) the state.
     */
    static KfacState run(Transformer model, CalibrationSource source, CalibrationCoordinator.Settings settings,
                         KfacState base, JobProgress progress) throws InterruptedException {
        return run(CalibrationWork.curvature(model), source, settings, base, progress, CalibrationPipeline::start);
    }

    /**
     * KFAC factors of {@code model} over {@code source} from a run in {@code system} (e.g. a cluster member's), its
     * layer actors where {@code layers} puts them. The caller owns (closes) the state.
     */
    public static KfacState run(ActorSystem<?> system, CalibrationCoordinator.Layers layers, Transformer model,
                                CalibrationSource source, CalibrationCoordinator.Settings settings,
                                JobProgress progress) throws InterruptedException {
        return runIn(system, layers, CalibrationWork.curvature(model), source, settings, null, progress,
                CalibrationPipeline::start);
    }

    /**
     * SliceGPT's second moments through the pipeline, one run per place, each holding one place's D×D sums at most
     * whatever the calibration set (the signals are recomputed through the rotated upstream blocks batch by batch).
     */
    static SecondMoments secondMoments(CalibrationSource source, CalibrationCoordinator.Settings settings) {
        return (model, place) -> {
            try {
                return run(CalibrationWork.secondMoment(model, place), source, settings, null, JobProgress.NONE,
                        CalibrationPipeline::secondMoment);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while summing " + place.signalName(), e);
            }
        };
    }

    /** A run in an actor system of its own (its snapshot store is freed only once no actor can touch it). */
    private static <T> T run(CalibrationWork work, CalibrationSource source, CalibrationCoordinator.Settings settings,
                             KfacState base, JobProgress progress, Collector<T> collector) throws InterruptedException {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "lancet-calibration");
        try {
            return runIn(system, CalibrationCoordinator.Layers.local(), work, source, settings, base, progress,
                    collector);
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().join();
        }
    }

    /**
     * A run in {@code system}: its coordinator (and with it every actor of the run) stops once it has answered, and its
     * snapshot store is freed only then, when no actor can touch it.
     */
    private static <T> T runIn(ActorSystem<?> system, CalibrationCoordinator.Layers layers, CalibrationWork work,
                               CalibrationSource source, CalibrationCoordinator.Settings settings, KfacState base,
                               JobProgress progress, Collector<T> collector) throws InterruptedException {
        String name = "calibration-" + UUID.randomUUID();
        SnapshotStore store = SnapshotStore.inMemory();
        progress.report(BATCHES, 0, source.batches(settings.batchSize()));
        ActorRef<CalibrationCoordinator.Progress> listener = system.systemActorOf(
                Behaviors.<CalibrationCoordinator.Progress>receiveMessage(p -> {
                    progress.report(BATCHES, p.progress().getBatchesDone(), p.progress().getBatchesTotal());
                    return Behaviors.same();
                }), name + "-progress", Props.empty());
        var run = CalibrationPipeline.spawn(system, name, work, layers, source, settings, store, base, listener);
        Stopped stopped = Stopped.watch(system, run, name);
        try {
            return collector.start(system, run).toCompletableFuture().get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("calibration failed: " + e.getCause(), e.getCause());
        } finally {
            stopped.stopAndAwait(); // already stopping if it answered
            Adapter.toClassic(system).stop(Adapter.toClassic(listener));
            store.close();
        }
    }

    @FunctionalInterface
    private interface Collector<T> {
        CompletionStage<T> start(ActorSystem<?> system, ActorRef<CalibrationCoordinator.Command> run);
    }
}
