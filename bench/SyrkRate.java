// Raw SSYRK vs SGEMM rate at the shapes of KFAC folding (1016 rows: one 8 x 128 batch), through Lancet's Blas.
//   java -cp "engine/target/classes:$(cat actors/target/classpath.txt)" bench/SyrkRate.java [rows] [widths...]
// Prints one JSON line per width: ms per call and GFLOP/s counted as SYRK's rows·d·(d+1) useful FLOPs.
import dev.lancet.engine.linalg.Blas;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

public class SyrkRate {
    public static void main(String[] args) {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 1016;
        int[] widths = args.length > 1
                ? java.util.Arrays.stream(args, 1, args.length).mapToInt(Integer::parseInt).toArray()
                : new int[] {192, 512, 768, 3072};
        for (int d : widths) {
            INDArray a = Nd4j.rand(DataType.FLOAT, rows, d);
            INDArray c = Nd4j.zeros(DataType.FLOAT, d, d);
            int iters = Math.max(5, (int) (2e10 / ((double) rows * d * d)));
            double syrk = seconds(() -> Blas.syrkUpper(a, c, 1, 0), iters);
            double gemm = seconds(() -> Blas.gemm(a, true, a, false, c, 1, 0), iters);
            double useful = (double) rows * d * (d + 1);
            System.out.printf("{\"rows\":%d,\"width\":%d,\"syrk_ms\":%.3f,\"syrk_gflops\":%.1f,\"gemm_ms\":%.3f,"
                    + "\"gemm_gflops\":%.1f}%n", rows, d, syrk * 1e3, useful / syrk / 1e9, gemm * 1e3,
                    2.0 * rows * d * d / gemm / 1e9);
        }
    }

    private static double seconds(Runnable call, int iters) {
        for (int i = 0; i < 3; i++) {
            call.run();
        }
        long start = System.nanoTime();
        for (int i = 0; i < iters; i++) {
            call.run();
        }
        return (System.nanoTime() - start) / 1e9 / iters;
    }
}
