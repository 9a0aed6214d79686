package dev.lancet.engine.llmpruner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.StructuralEdit;
import dev.lancet.engine.model.SyntheticCheckpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.prune.BlockGroups;
import dev.lancet.engine.prune.BlockGroups.Kind;
import dev.lancet.engine.prune.BlockGroups.Member;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Group scores against central finite differences of the fp64 mean next-token loss, computed here entry by entry
 * (Element¹: Σ|w·∂L/∂w|; Element²: the Fisher term from each window's own loss) and member by member (Vector: the
 * derivative of the loss along the member's own weights, d/dt L((1 + t)·W_m) = Σ w·∂L/∂w). On a GQA Llama with
 * biases (4 query heads in 2 groups of 2) and a multi-head OPT with biases, one head group and one MLP channel each.
 */
class TaylorScoresTest {

    @TempDir
    Path tmp;

    private static final int WINDOWS = 2;
    private static final int SEQ = 8;

    @Test
    void gqaLlamaScoresEqualFiniteDifferences() {
        check(new SyntheticCheckpoint.Spec("llama", 4096, 8, 8, 2, 4, 2, 6, 32, true, false, false, DType.F32, 0.3, 7));
    }

    @Test
    void optScoresEqualFiniteDifferences() {
        check(new SyntheticCheckpoint.Spec("opt", 4096, 8, 8, 2, 2, 2, 6, 32, true, true, false, DType.F32, 0.3, 8));
    }

    private void check(SyntheticCheckpoint.Spec spec) {
        Path dir = tmp.resolve(spec.arch());
        SyntheticCheckpoint.write(spec, dir);
        try (Checkpoint checkpoint = Checkpoint.open(dir);
             Tokenizer tokenizer = Tokenizer.load(Fixtures.tinyLlama().resolve("tokenizer.json"));
             Transformer model = Transformer.load(checkpoint, DataType.DOUBLE)) {
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), WINDOWS,
                    SEQ, CalibrationSource.Sampling.RANDOM, 3);
            try (TaylorGradients gradients = TaylorGradients.of(model, source, true, 2, done -> { })) {
                for (Kind kind : Kind.values()) {
                    int block = 1;
                    // the group with the largest score: a channel a ReLU never opens would check nothing
                    double[] element1 = GroupScores.of(model, block, kind,
                            new TaylorSettings(Importance.ELEMENT1, Aggregation.SUM, null, 0), gradients);
                    int group = IntStream.range(0, element1.length).reduce((a, b) -> element1[b] > element1[a] ? b : a)
                            .orElseThrow();
                    double[] fd = finiteDifferenceScores(model, source, block, kind, group);
                    assertClose(fd[0], score(model, block, kind, group, Importance.ELEMENT1, gradients), kind + " element1");
                    assertClose(fd[1], score(model, block, kind, group, Importance.ELEMENT2, gradients), kind + " element2");
                    assertClose(fd[2], score(model, block, kind, group, Importance.VECTOR, gradients), kind + " vector");
                    assertTrue(fd[0] > fd[2], "vector-wise cancels signs, element-wise does not");
                    assertTrue(Math.abs(fd[0] - fd[1]) > 1e-4 * fd[0], "the Fisher term counts");
                }
            }
        }
    }

    private static double score(Transformer model, int block, Kind kind, int group, Importance importance,
                                TaylorGradients gradients) {
        return GroupScores.of(model, block, kind, new TaylorSettings(importance, Aggregation.SUM, null, 0),
                gradients)[group];
    }

    private static void assertClose(double want, double got, String what) {
        assertEquals(want, got, 1e-6 * Math.abs(want), what);
    }

    /** Element¹, Element² and Vector scores of one group (summed over members) from finite differences alone. */
    private static double[] finiteDifferenceScores(Transformer model, CalibrationSource source, int block, Kind kind,
                                                   int group) {
        TokenBatch all = source.batch(0, WINDOWS);
        BlockGroups groups = new BlockGroups(model.layout().block(block));
        double element1 = 0;
        double element2 = 0;
        double vector = 0;
        for (Member m : groups.members(kind, group)) {
            String layer = model.layout().block(block).linear(m.role()).name();
            INDArray w = model.parameters().get(layer + ".weight");
            INDArray b = model.parameters().get(layer + ".bias");
            double along = 0;
            for (int line : m.indices()) {
                INDArray entries = m.rows() ? w.getRow(line) : w.getColumn(line);
                for (long k = 0; k < entries.length(); k++) {
                    double[] e = entry(model, source, all, entries, k);
                    element1 += e[0];
                    element2 += e[1];
                    along += e[2];
                }
                if (m.rows() && b != null) {
                    double[] e = entry(model, source, all, b, line);
                    element1 += e[0];
                    element2 += e[1];
                    along += e[2];
                }
            }
            vector += Math.abs(along);
        }
        return new double[] {element1, element2, vector};
    }

    /** |w·g|, |w·g − ½w²F| and w·g of one entry (a view into the model's weights), g and F by finite differences. */
    private static double[] entry(Transformer model, CalibrationSource source, TokenBatch all, INDArray entries,
                                  long k) {
        double w = entries.getDouble(k);
        double g = derivative(model, all, entries, k);
        double fisher = 0;
        for (int n = 0; n < WINDOWS; n++) {
            double own = derivative(model, source.batch(n, 1), entries, k);
            fisher += own * own / WINDOWS;
        }
        return new double[] {Math.abs(w * g), Math.abs(w * g - 0.5 * w * w * fisher), w * g};
    }

    /** ∂(mean NLL)/∂entry by central differences. */
    private static double derivative(Transformer model, TokenBatch windows, INDArray entries, long k) {
        double eps = 1e-5;
        double original = entries.getDouble(k);
        entries.putScalar(k, original + eps);
        double up = model.loss(windows).nllSum();
        entries.putScalar(k, original - eps);
        double down = model.loss(windows).nllSum();
        entries.putScalar(k, original);
        return (up - down) / (2 * eps) / windows.labelledTokens();
    }

    /** The edit removing the KV heads and MLP channels LLM-Pruner chose. */
    static StructuralEdit edit(List<UnitReport> chosen) {
        StructuralEdit edit = new StructuralEdit();
        chosen.forEach(r -> edit.dropKvHeads(r.block(), r.kvHeads()).dropChannels(r.block(), r.channels()));
        return edit;
    }
}
