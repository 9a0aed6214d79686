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
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Calibration runs through the actor pipeline in an actor system of their own: KFAC factors reported as progress
 * in batches, or SliceGPT's second moments place by place.
 */
final class Calibration {

    /** Progress through the actors is counted in batches. */
    static final String BATCHES = "batches";

    private Calibration() {
    }

    /** The pipeline's tunables from lancet.calibration.*, the batch size overridden unless null. */
    static CalibrationCoordinator.Settings settings(Integer batch, Precision precision) {
        Config config = ConfigFactory.load();
        return new CalibrationCoordinator.Settings(batch != null ? batch : config.getInt("lancet.calibration.batch-size"),
                config.getInt("lancet.calibration.max-in-flight"), config.getInt("lancet.calibration.snapshot-every"),
                precision);
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
        SnapshotStore store = SnapshotStore.inMemory();
        try {
            progress.report(BATCHES, 0, source.batches(settings.batchSize()));
            ActorRef<CalibrationCoordinator.Progress> listener = system.systemActorOf(
                    Behaviors.<CalibrationCoordinator.Progress>receiveMessage(p -> {
                        progress.report(BATCHES, p.progress().getBatchesDone(), p.progress().getBatchesTotal());
                        return Behaviors.same();
                    }), "progress", Props.empty());
            var run = CalibrationPipeline.spawn(system, "calibration", work, source, settings, store, base, listener);
            return collector.start(system, run).toCompletableFuture().get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("calibration failed: " + e.getCause(), e.getCause());
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().join();
            store.close();
        }
    }

    @FunctionalInterface
    private interface Collector<T> {
        CompletionStage<T> start(ActorSystem<?> system, ActorRef<CalibrationCoordinator.Command> run);
    }
}
