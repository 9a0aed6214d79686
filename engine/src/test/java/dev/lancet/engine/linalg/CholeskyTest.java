package dev.lancet.engine.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** LAPACK's SPD inverse and solves, checked by multiplying back; an indefinite matrix is a clear exception. */
class CholeskyTest {

    private static INDArray spd(int n) {
        Nd4j.getRandom().setSeed(4);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 2L * n, n);
        return x.transpose().mmul(x).addi(Nd4j.eye(n).castTo(DataType.DOUBLE));
    }

    @Test
    void inverseTimesTheMatrixIsTheIdentity() {
        INDArray m = spd(300);
        INDArray inverse = m.dup('c');
        Cholesky.factor(inverse, "m");
        Cholesky.invert(inverse, "m");
        double error = inverse.mmul(m).subi(Nd4j.eye(300).castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
        assertTrue(error < 1e-12, "‖M⁻¹M − I‖max = " + error);
        assertEquals(0.0, inverse.sub(inverse.transpose()).amaxNumber().doubleValue(), "symmetric");
    }

    @Test
    void solveGivesRightHandSidesBack() {
        INDArray m = spd(50);
        INDArray b = Nd4j.randn(DataType.DOUBLE, 50, 7);
        INDArray factor = m.dup('c');
        Cholesky.factor(factor, "m");
        INDArray x = b.dup('c');
        Cholesky.solve(factor, x);
        assertTrue(m.mmul(x).subi(b).amaxNumber().doubleValue() < 1e-12);
    }

    @Test
    void anIndefiniteMatrixIsAClearException() {
        INDArray m = Nd4j.createFromArray(new double[][] {{1, 0, 0}, {0, 1, 2}, {0, 2, 1}});
        NotPositiveDefiniteException e = assertThrows(NotPositiveDefiniteException.class,
                () -> Cholesky.factor(m, "layer q: G + 0.0·mean(diag G)·I"));
        assertTrue(e.getMessage().startsWith("layer q: G + 0.0·mean(diag G)·I is not positive definite: its leading "
                + "minor of order 3 of 3"), e.getMessage());
    }
}
