package dev.lancet.engine.curvature;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import dev.lancet.engine.text.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/** Partial KFAC states merge into the one-pass state whatever the chunking and order; fp32 blocks stay bounded. */
class KfacMergeTest {

    @Test
    void mergingPartialStatesInAnyOrderOrChunkingEqualsOnePass() {
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyOpt()); // biases: the appended 1 column too
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            Transformer model = Transformer.load(checkpoint, DataType.DOUBLE);
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), 7, 24,
                    Sampling.RANDOM, 11);
            KfacState onePass = fold(model, source.batch(0, 7));

            List<KfacState> perWindow = new ArrayList<>();
            for (int w = 0; w < 7; w++) {
                perWindow.add(fold(model, source.batch(w, 1)));
            }
            KfacState reversed = KfacState.empty(model.layout());
            for (int w = 6; w >= 0; w--) {
                reversed.merge(perWindow.get(w));
            }
            // a tree: (w0 + w1) + ((w2 + w3) + (w4 + w5 + w6)), and the windows in uneven batches of 3
            KfacState left = perWindow.get(0).copy();
            left.merge(perWindow.get(1));
            KfacState right = perWindow.get(4).copy();
            right.merge(perWindow.get(5));
            right.merge(perWindow.get(6));
            KfacState middle = perWindow.get(2).copy();
            middle.merge(perWindow.get(3));
            middle.merge(right);
            left.merge(middle);
            KfacState threes = KfacState.empty(model.layout());
            DirectCalibration.accumulate(model, source, 3, Precision.FP64, threes, done -> { });

            for (KfacState state : List.of(reversed, left, threes)) {
                assertEquals(onePass.tokens(), state.tokens());
                for (KfacFactor want : onePass.factors()) {
                    KfacFactor got = state.get(want.layer());
                    assertEquals(want.tokens(), got.tokens());
                    assertRelative(want.sumA(), got.sumA(), 1e-10, want.layer() + " A");
                    assertRelative(want.sumG(), got.sumG(), 1e-10, want.layer() + " G");
                }
            }
        }
    }

    /**
     * An fp32 block of n rows is within the classic dot-product bound n·u·Σ|a_i||a_j| (u = 2⁻²⁴) of the exact
     * sum; blocks are added in fp64, so after many batches the error is still that of one block (n = rows per
     * batch), not of n = all rows.
     */
    @Test
    void fp32BlocksSummedInFp64StayWithinTheOneBlockBound() {
        int rows = 512;
        int dim = 48;
        int batches = 24;
        Random random = new Random(3);
        LinearLayout layer = new LinearLayout("l", LinearRole.Q, dim, 1, false);
        KfacFactor fp32 = KfacFactor.empty(layer);
        KfacFactor fp64 = KfacFactor.empty(layer);
        INDArray absSum = Nd4j.zeros(DataType.DOUBLE, dim, dim);
        INDArray g = Nd4j.zeros(DataType.FLOAT, rows, 1);
        for (int b = 0; b < batches; b++) {
            float[] values = new float[rows * dim];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (1.0 + random.nextGaussian()); // activations with a mean: large, cancelling sums
            }
            INDArray a = Nd4j.createFromArray(values).reshape(rows, dim);
            fp32.add(a, g, Precision.FP32);
            fp64.add(a.castTo(DataType.DOUBLE), g, Precision.FP64); // exact products of the same fp32 values
            INDArray abs = Transforms.abs(a.castTo(DataType.DOUBLE));
            absSum.addi(abs.transpose().mmul(abs));
        }
        double unit = Math.ulp(1.0f) / 2;
        INDArray error = Transforms.abs(fp32.sumA().sub(fp64.sumA()));
        double worst = error.div(absSum).maxNumber().doubleValue();
        assertTrue(worst <= rows * unit, "worst relative error " + worst + " exceeds the one-block bound " + rows * unit);
        assertTrue(worst > 0, "fp32 blocks should differ from fp64 somewhere");
    }

    private static KfacState fold(Transformer model, TokenBatch batch) {
        KfacState state = KfacState.empty(model.layout());
        model.lossAndBackward(batch, new Backprop(false,
                (layer, a, g) -> state.get(layer.name()).add(a, g, Precision.FP64), batch.labelledRows()));
        return state;
    }

    private static void assertRelative(INDArray want, INDArray got, double tolerance, String what) {
        double scale = want.norm2Number().doubleValue();
        double diff = want.sub(got).norm2Number().doubleValue();
        assertTrue(diff <= tolerance * scale, what + ": |diff| " + diff + " vs scale " + scale);
    }
}
