package dev.lancet.jobs;

import java.nio.file.Path;
import java.util.List;

/**
 * A job {@code lancet prune} runs, as the daemon queues it: multi-shot pruning ({@link PruneJob.Spec}) or SliceGPT's
 * one-shot slicing ({@link SliceJob.Spec}). Both write a checkpoint per completed shot to their output directory and
 * resume from there.
 */
public sealed interface JobSpec permits PruneJob.Spec, SliceJob.Spec {

    Path model();

    List<Path> calibration();

    int samples();

    int seqlen();

    Path eval();

    int evalSeqlen();

    /** Windows per forward pass. */
    int batch();

    Path out();

    boolean resume();

    /** The shots a status counts. */
    int shots();

    /** The same job writing to {@code out}, resuming what is there or not. */
    JobSpec withOut(Path out, boolean resume);
}
