package dev.lancet.jobs;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.CheckpointWriter;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.StructuralEdit;
import dev.lancet.engine.model.Transformer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Structural surgery by hand: removes query heads, key/value heads (with their query heads), MLP channels and
 * whole blocks of a model, every index referring to the input model, and saves the shrunk model.
 */
public final class EditJob {

    /** Progress is counted in steps: load, edit, save. */
    public static final String STEPS = "steps";

    /**
     * @param heads    query heads to drop, by block
     * @param kvHeads  key/value heads to drop with all their query heads, by block
     * @param channels MLP channels to drop, by block
     * @param blocks   whole blocks to drop (the rest are renumbered)
     */
    public record Spec(Path model, Path out, Map<Integer, List<Integer>> heads, Map<Integer, List<Integer>> kvHeads,
                       Map<Integer, List<Integer>> channels, List<Integer> blocks) {
        public Spec {
            heads = Map.copyOf(heads);
            kvHeads = Map.copyOf(kvHeads);
            channels = Map.copyOf(channels);
            blocks = List.copyOf(blocks);
        }

        StructuralEdit edit() {
            StructuralEdit edit = new StructuralEdit().dropBlocks(blocks);
            heads.forEach(edit::dropHeads);
            kvHeads.forEach(edit::dropKvHeads);
            channels.forEach(edit::dropChannels);
            return edit;
        }
    }

    /** Weights and biases before and after (a tied head counted once), and the saved model's layout. */
    public record Result(Path out, long paramsBefore, long paramsAfter, ModelLayout layout, double seconds) {
    }

    private EditJob() {
    }

    public static Result run(Spec spec, JobProgress progress) {
        long start = System.nanoTime();
        try (Checkpoint source = Checkpoint.open(spec.model())) {
            requireOtherDirectory(spec.model(), spec.out());
            StructuralEdit edit = spec.edit();
            // every index is checked against the layout before anything is loaded or written
            edit.check(source.config(), source.names(), source.layout());
            progress.report(STEPS, 0, 3);
            // edits only select rows and columns: fp32 holds F16, BF16 and F32 weights exactly
            boolean fp64 = source.tensors().stream().anyMatch(t -> t.dtype() == DType.F64);
            Transformer model = Transformer.load(source, fp64 ? DataType.DOUBLE : DataType.FLOAT);
            long before = model.parameterCount();
            progress.report(STEPS, 1, 3);
            try (Transformer edited = edit.applyTo(model)) {
                progress.report(STEPS, 2, 3);
                CheckpointWriter.save(edited, source, spec.out());
                progress.report(STEPS, 3, 3);
                return new Result(spec.out(), before, edited.parameterCount(), edited.layout(),
                        (System.nanoTime() - start) / 1e9);
            }
        }
    }

    private static void requireOtherDirectory(Path model, Path out) {
        try {
            if (Files.exists(out) && Files.isSameFile(model, out)) {
                throw new CheckpointException(out, "is the input model; write the edited model elsewhere");
            }
        } catch (IOException e) {
            throw new CheckpointException(out, "cannot read: " + e.getMessage());
        }
    }
}
