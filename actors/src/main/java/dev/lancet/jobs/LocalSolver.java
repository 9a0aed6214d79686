package dev.lancet.jobs;

import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.prune.PruneCoordinator;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.PruneUnit;
import dev.lancet.engine.prune.ShotUnits;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.proto.ShotFiles;
import java.util.UUID;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Every shot's calibration, and its coordinator with a pool of workers, in one actor system for the job (started with
 * the first shot, ended by {@link #close}), sharing the model in memory: the calibration threads keep their workspaces
 * warm from shot to shot.
 */
public final class LocalSolver implements ShotSolver {

    /** Opens unit i of a shot for the workers; {@link ShotUnits#open} outside of tests. */
    @FunctionalInterface
    interface UnitOpener {
        PruneUnit open(int unit, Transformer model, KfacState curvature, PruneSettings settings);
    }

    private final int workers;
    private final UnitOpener opener;
    private ActorSystem<Void> system;

    public LocalSolver(int workers) {
        this(workers, ShotUnits::open);
    }

    LocalSolver(int workers, UnitOpener opener) {
        this.workers = workers;
        this.opener = opener;
    }

    @Override
    public KfacState calibrate(Transformer model, CalibrationSource source, CalibrationCoordinator.Settings settings,
                               JobProgress progress) throws InterruptedException {
        return Calibration.run(system(), CalibrationCoordinator.Layers.local(), model, source, settings, progress);
    }

    @Override
    public PruneCoordinator.Solved solve(Shot shot, long target) throws InterruptedException {
        int units = ShotUnits.count(shot.model().layout(), shot.settings().structure());
        var pool = PruneCoordinator.Workers.local(workers,
                (files, unit) -> opener.open(unit, shot.model(), shot.curvature(), shot.settings()),
                DispatcherSelector.fromConfig("lancet.prune.dispatcher"));
        String name = "prune-" + UUID.randomUUID();
        var coordinator = system().systemActorOf(PruneCoordinator.create(units, pool, ShotFiles.getDefaultInstance(),
                null), name, Props.empty());
        Stopped stopped = Stopped.watch(system(), coordinator, name);
        try {
            return PruneCoordinator.solve(coordinator, target, system().scheduler());
        } finally {
            // a failed attempt's other workers may still be correcting the model the caller reloads next
            stopped.stopAndAwait();
        }
    }

    private synchronized ActorSystem<Void> system() {
        if (system == null) {
            system = ActorSystem.create(Behaviors.empty(), "lancet-job");
        }
        return system;
    }

    /** Ends the job's actor system, and with it the threads and their workspaces. */
    @Override
    public synchronized void close() {
        if (system != null) {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().join();
            system = null;
        }
    }
}
