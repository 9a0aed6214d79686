// Raw fp32 GEMM rate of the OpenBLAS that Lancet bundles (org.bytedeco:openblas), for BENCHMARKS.md.
//   java -cp "$(cat actors/target/classpath.txt)" bench/GemmRate.java [n] [threads] [iters]
// Prints one JSON line: median GFLOP/s of an n x n x n cblas_sgemm, the OpenBLAS version and the
// OPENBLAS_CORETYPE it ran under (that variable overrides the kernels OpenBLAS picks from the CPU).
import static org.bytedeco.openblas.global.openblas.*;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;

public class GemmRate {
    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 2048;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int iters = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        blas_set_num_threads(threads);
        float[] init = new float[n * n];
        SplittableRandom r = new SplittableRandom(0);
        for (int i = 0; i < init.length; i++) init[i] = (float) r.nextGaussian();
        FloatPointer a = new FloatPointer(init), b = new FloatPointer(init), c = new FloatPointer((long) n * n);
        for (int i = 0; i < 2; i++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1f, a, n, b, n, 0f, c, n);
        double[] s = new double[iters];
        for (int i = 0; i < iters; i++) {
            long t = System.nanoTime();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1f, a, n, b, n, 0f, c, n);
            s[i] = (System.nanoTime() - t) / 1e9;
        }
        Arrays.sort(s);
        double gflops = 2.0 * n * n * n / s[iters / 2] / 1e9;
        System.out.printf("{\"what\":\"sgemm\",\"impl\":\"lancet-openblas\",\"n\":%d,\"threads\":%d,\"gflops\":%.1f,"
                + "\"openblas\":\"%s\",\"blas_threads\":%d,\"OPENBLAS_CORETYPE\":\"%s\"}%n", n, threads, gflops, OPENBLAS_VERSION.trim(),
                blas_get_num_threads(), System.getenv().getOrDefault("OPENBLAS_CORETYPE", "unset"));
    }
}
