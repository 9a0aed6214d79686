package dev.lancet.engine.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.FiniteDifferences;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.SyntheticCheckpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.nn.Linear;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * LoRA against independent checks: adapter gradients against central finite differences of the fp64 loss (with
 * dropout on, and on layers whose pruned zeros are whole rows/columns or scattered), merged against unmerged logits,
 * pruned zeros kept through training and merging, and a resumed run against an uninterrupted one.
 */
class LoraTest {

    private static final int VOCAB = 61;

    @TempDir
    Path tmp;

    private Path synthetic(String arch, int kvHeads, boolean bias, long seed) {
        Path dir = tmp.resolve(arch + "-" + seed);
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec(arch, VOCAB, 24, 24, 2, 4, kvHeads, 32, 64, bias, false,
                false, DType.F32, 0.2, seed), dir);
        return dir;
    }

    private static Transformer load(Path dir, DataType dtype) {
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            return Transformer.load(checkpoint, dtype);
        }
    }

    private static TokenBatch batch(long seed) {
        return new TokenBatch(2, 7, new SplittableRandom(seed).ints(14, 0, VOCAB).toArray());
    }

    /** Zeroes rows 1, 5 and column 2 of block 0's v, and a scattered third of block 1's down projection. */
    private static void prune(Transformer model) {
        Linear v = model.blocks().get(0).attention().v();
        v.weight().getRow(1).assign(0);
        v.weight().getRow(5).assign(0);
        v.weight().getColumn(2).assign(0);
        List<Linear> mlp = model.blocks().get(1).feedForward().linears();
        INDArray down = mlp.get(mlp.size() - 1).weight();
        for (int row = 0; row < down.rows(); row++) {
            for (int column = row % 3; column < down.columns(); column += 3) {
                down.putScalar(row, column, 0);
            }
        }
    }

    /** B random instead of zero, so that A's gradient and the adapters' output are not trivially zero. */
    private static void randomizeB(LoraModel lora, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (LoraLayer l : lora.layers()) {
            INDArray b = l.b();
            for (long i = 0; i < b.length(); i++) {
                b.putScalar(i / b.columns(), i % b.columns(), random.nextDouble(-0.3, 0.3));
            }
        }
    }

    @Test
    void gradientsMatchFiniteDifferencesWithDropoutAndPrunedZeros() {
        for (Path dir : List.of(synthetic("llama", 2, true, 3), synthetic("opt", 4, true, 4))) {
            Transformer model = load(dir, DataType.DOUBLE);
            prune(model);
            LoraSettings settings = new LoraSettings(3, 6, 0.3, 11, LoraSettings.defaults(0).targets());
            try (LoraModel lora = LoraModel.attach(model, settings)) {
                randomizeB(lora, 5);
                TokenBatch tokens = batch(7);
                lora.dropout().start(4, 1);
                lora.layers().forEach(LoraLayer::zeroGradients);
                lora.view().lossAndBackward(tokens, new Backprop(false, null, null));
                SplittableRandom random = new SplittableRandom(9);
                assertTrue(lora.layers().stream().anyMatch(LoraLayer::elementMasked));
                for (LoraLayer l : lora.layers()) {
                    FiniteDifferences.check(lora.view(), tokens, l.a(), l.gradA(), random, l.layer().name() + ".lora_A", 3);
                    FiniteDifferences.check(lora.view(), tokens, l.b(), l.gradB(), random, l.layer().name() + ".lora_B", 3);
                }
                lora.dropout().stop();
            }
            model.close();
        }
    }

    @Test
    void mergedAdaptersGiveTheUnmergedLogitsAndPrunedZerosStayZero() {
        Transformer model = load(synthetic("llama", 2, false, 6), DataType.DOUBLE);
        prune(model);
        List<INDArray> before = model.linears().stream().map(l -> l.weight().dup()).toList();
        INDArray unmerged;
        try (LoraModel lora = LoraModel.attach(model, LoraSettings.defaults(2).withRank(4));
             LoraTrainer trainer = new LoraTrainer(lora, new LoraTrainer.Schedule(1e-2, 1, 5))) {
            double first = 0;
            double last = 0;
            for (int step = 0; step < 5; step++) {
                double loss = trainer.step(List.of(batch(1), batch(2))).perplexity();
                first = step == 0 ? loss : first;
                last = loss;
            }
            assertTrue(last < first, "training lowers the training loss: " + first + " → " + last);
            unmerged = lora.view().logits(batch(3));
            lora.merge();
        }
        INDArray merged = model.logits(batch(3));
        assertTrue(merged.equalsWithEps(unmerged, 1e-10), "merged logits differ from unmerged ones");
        List<Linear> after = model.linears();
        for (int i = 0; i < after.size(); i++) {
            INDArray was = before.get(i);
            INDArray now = after.get(i).weight();
            long zerosBefore = was.eq(0).castTo(DataType.INT64).sumNumber().longValue();
            // every zero stays zero, and no other weight becomes zero
            assertEquals(zerosBefore, now.eq(0).castTo(DataType.INT64).sumNumber().longValue(), after.get(i).name());
            assertEquals(zerosBefore, was.eq(0).castTo(DataType.DOUBLE).muli(now.eq(0).castTo(DataType.DOUBLE))
                    .sumNumber().longValue());
            assertTrue(now.sub(was).eq(0).castTo(DataType.INT64).sumNumber().longValue() < now.length() / 2,
                    after.get(i).name() + ": the merge left most weights unchanged");
        }
        model.close();
    }

    @Test
    void aResumedRunEndsWithTheUninterruptedRunsAdapters() {
        Path dir = synthetic("llama", 4, false, 8);
        LoraTrainer.Schedule schedule = new LoraTrainer.Schedule(3e-3, 2, 6);
        float[] uninterrupted = train(dir, schedule, 0, 6, null);
        Path state = tmp.resolve("state.safetensors");
        train(dir, schedule, 0, 3, state);
        float[] resumed = train(dir, schedule, 3, 6, state);
        assertArrayEquals(uninterrupted, resumed);
    }

    /** Trains steps [from, to) (restoring {@code state} first when from > 0, saving it after); returns every B. */
    private static float[] train(Path dir, LoraTrainer.Schedule schedule, int from, int to, Path state) {
        Transformer model = load(dir, DataType.FLOAT);
        try (LoraModel lora = LoraModel.attach(model, LoraSettings.defaults(1));
             LoraTrainer trainer = new LoraTrainer(lora, schedule)) {
            if (from > 0) {
                trainer.restore(state);
            }
            for (int step = from; step < to; step++) {
                trainer.step(List.of(batch(100 + step)));
            }
            if (state != null) {
                trainer.save(state);
            }
            return Nd4j.toFlattened(lora.layers().stream().map(LoraLayer::b).toList()).data().asFloat();
        } finally {
            model.close();
        }
    }

    @Test
    void aRankLargerThanALayerIsRefused() {
        Transformer model = load(synthetic("llama", 2, false, 10), DataType.FLOAT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LoraModel.attach(model, LoraSettings.defaults(0).withRank(13)));
        assertTrue(e.getMessage().contains("larger than layer"), e.getMessage());
        model.close();
    }
}
