package dev.lancet.engine.linalg;

import java.util.function.Supplier;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J workspaces for per-batch temporaries. Every ND4J op returns freshly malloc'ed native memory, and on
 * these VMs first-touch page faults of large fresh buffers cost more than the GEMMs that fill them (6× on the
 * head GEMM, BENCHMARKS.md). A workspace sizes itself on the first batch, then hands out the same resident
 * memory every batch. Arrays created inside are only valid until the scope closes.
 *
 * <p>A workspace is found by its name, per thread: scopes that share a name share memory, so every kind of
 * scope has a name of its own, and the names are kept here.
 */
public final class Workspaces {

    /** A whole forward pass of the transformer (evaluation). */
    public static final String FORWARD = "lancet-forward";
    /** A whole forward + backward step of the transformer. */
    public static final String STEP = "lancet-step";
    /** One decoder block (or the head) inside a forward or a step, recycled as soon as it ends. */
    public static final String BLOCK = "lancet-block";
    /** One fold of a batch's (a, g) block into a layer's KFAC sums; recycled after each fold. */
    public static final String FOLD = "lancet-fold";
    /** One full factor matrix at a time, while a factor file is written or read. */
    public static final String FACTOR_FILE = "lancet-factor-file";
    /** One pruning step on one layer (its costs, or a correction): the fp64 copy of its weights and the products. */
    public static final String PRUNE = "lancet-prune";
    /** One part of a pruning step inside {@link #PRUNE} (an element chunk, one set's cost), recycled after each. */
    public static final String PRUNE_PART = "lancet-prune-part";
    /** One optimizer step over the LoRA adapters' parameters: its temporaries. */
    public static final String OPTIMIZER = "lancet-optimizer";
    /** The KFAC benchmark: every layer's fold of one batch in one scope. */
    public static final String BENCH_KFAC = "lancet-bench-kfac";

    private static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
            .initialSize(0)
            .overallocationLimit(0.2)
            .policyAllocation(AllocationPolicy.OVERALLOCATE)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();

    private Workspaces() {
    }

    /** Opens the named per-thread workspace; close it (try-with-resources) to recycle its memory. */
    public static MemoryWorkspace open(String name) {
        return Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, name);
    }

    /**
     * Runs {@code step} in the named workspace opened inside the active workspace {@code parent} and returns its
     * result moved into {@code parent}: everything else the step allocated is recycled as soon as it ends.
     */
    public static INDArray nested(String name, String parent, Supplier<INDArray> step) {
        try (MemoryWorkspace ignored = open(name)) {
            return step.get().leverageTo(parent, true);
        }
    }

    /**
     * Frees every workspace of the calling thread. A thread's workspaces are otherwise freed only once the garbage
     * collector happens to collect them after the thread ends: a pool thread that is done with numerical work calls
     * this last, or each fresh thread (a new actor system's dispatcher) adds its own gigabytes. No scope of the
     * thread may be open.
     */
    public static void releaseThread() {
        var manager = Nd4j.getWorkspaceManager();
        for (MemoryWorkspace workspace : manager.getAllWorkspacesForCurrentThread()) {
            manager.destroyWorkspace(workspace);
        }
    }

    /** Runs {@code allocation} outside any workspace, for arrays that must outlive the current scope. */
    public static <T> T outside(Supplier<T> allocation) {
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return allocation.get();
        }
    }
}
