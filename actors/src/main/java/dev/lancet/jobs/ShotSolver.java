package dev.lancet.jobs;

import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.prune.PruneCoordinator;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.text.CalibrationSource;
import java.nio.file.Path;

/**
 * Where a job's shots run: each shot's calibration (the gradient workers and curvature actor in the job's JVM, the
 * layer actors beside them or on other nodes), and each attempt at its solve (a {@link PruneCoordinator} and its
 * workers set the shot's threshold and remove and correct the shot's model in place). {@link LocalSolver} runs
 * everything in the job's JVM; a cluster runs the layer actors and the prune workers as sharded entities on its worker
 * nodes. The result does not depend on which.
 */
public interface ShotSolver extends AutoCloseable {

    /**
     * @param model      the model the shot starts from, changed in place
     * @param checkpoint where that same model is saved (what a worker on another node loads)
     * @param curvature  its KFAC factors (null for methods without curvature)
     * @param work       a directory of the attempt's own, for a solver that needs files (not there yet; whoever
     *                   creates it deletes it)
     */
    record Shot(Transformer model, Path checkpoint, KfacState curvature, PruneSettings settings, Path work) {
    }

    /** The KFAC factors of {@code model} over {@code source} (the caller closes them). */
    KfacState calibrate(Transformer model, CalibrationSource source, CalibrationCoordinator.Settings settings,
                        JobProgress progress) throws InterruptedException;

    /** Removes {@code target} weights in all (earlier shots' zeros included); a failed answer leaves the model dirty. */
    PruneCoordinator.Solved solve(Shot shot, long target) throws InterruptedException;

    /** Frees what the solver holds for the job (its actor system, if it has one of its own). */
    @Override
    default void close() {
    }
}
