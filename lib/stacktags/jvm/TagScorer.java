package stacktags;

import java.io.IOException;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;

/**
 * The prediction of stacktags' multilabel model (lib/stacktags/multilabel.py, MultilabelLogisticModel), run by Spark
 * as a Java UDF over the feature vectors: per tag, probability = sigmoid(features · coefficients + intercept); then
 * the decision rule: the tags whose probability reaches their threshold, most probable first, at least minTags (the
 * most probable of the rest fill in) and at most maxTags; and the top `top` (tag, probability) pairs. Ties go to the
 * tag listed first.
 *
 * <p>It runs in the executors' JVMs, so scoring needs no Python worker and no Arrow copy of the vectors. The
 * coefficients reach the executors once, as a broadcast, laid out feature by feature: a row's sparse features each
 * read one contiguous run of numTags floats. Only the features with a coefficient have a run of their own (about half
 * of the hashed features at full scale); the others share one run of zeros.
 */
public final class TagScorer {
    private TagScorer() {}

    /** The model's weights, as the executors hold them. */
    public static final class Weights implements Serializable {
        private static final long serialVersionUID = 1L;
        final int numFeatures;
        final int numTags;
        final int[] offsets;        // per feature: where its numTags coefficients start in `coefficients`
        final float[] coefficients; // the runs of the features with a coefficient, then the run of zeros
        final float[] intercepts;

        Weights(int numFeatures, int numTags, int[] offsets, float[] coefficients, float[] intercepts) {
            this.numFeatures = numFeatures;
            this.numTags = numTags;
            this.offsets = offsets;
            this.coefficients = coefficients;
            this.intercepts = intercepts;
        }
    }

    /**
     * Broadcasts the weights. featuresFile holds the ids of the features with a coefficient, int32, ascending;
     * coefficientsFile their rows of numTags float32 each, in that order; both little-endian, as numpy's tofile
     * writes them: files, because Py4J would send a large array item by item. Every other feature of the
     * numFeatures has no coefficient (a run of zeros, so a row's sums are those of the whole matrix to the bit).
     */
    public static Broadcast<Weights> broadcast(SparkSession spark, String featuresFile, String coefficientsFile,
                                               int numFeatures, List<Double> intercepts) throws IOException {
        int numTags = intercepts.size();
        ByteBuffer featureBytes = ByteBuffer.wrap(Files.readAllBytes(Path.of(featuresFile)));
        int[] features = new int[featureBytes.remaining() / 4];
        featureBytes.order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(features);
        int zeros = Math.multiplyExact(features.length, numTags);
        int[] offsets = new int[numFeatures];
        Arrays.fill(offsets, zeros);
        for (int i = 0; i < features.length; i++) {
            if (features[i] < 0 || features[i] >= numFeatures || (i > 0 && features[i] <= features[i - 1])) {
                throw new IllegalArgumentException(featuresFile + ": feature ids not ascending within [0, "
                        + numFeatures + ") at position " + i);
            }
            offsets[features[i]] = i * numTags;
        }
        float[] coefficients = new float[Math.addExact(zeros, numTags)];
        try (FileChannel file = FileChannel.open(Path.of(coefficientsFile), StandardOpenOption.READ)) {
            if (file.size() != 4L * zeros) {
                throw new IllegalArgumentException(coefficientsFile + ": " + file.size() + " bytes, not the 4 x "
                        + features.length + " x " + numTags + " of the coefficients");
            }
            file.map(FileChannel.MapMode.READ_ONLY, 0, file.size()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
                    .get(coefficients, 0, zeros);
        }
        float[] interceptValues = new float[numTags];
        for (int t = 0; t < numTags; t++) interceptValues[t] = intercepts.get(t).floatValue();
        return JavaSparkContext.fromSparkContext(spark.sparkContext())
                .broadcast(new Weights(numFeatures, numTags, offsets, coefficients, interceptValues));
    }

    /**
     * The prediction of features (an ML vector column) as struct&lt;predicted: array&lt;string&gt;, scores:
     * array&lt;struct&lt;tag, probability: float&gt;&gt;[, probabilities: array&lt;float&gt;]&gt;; null for a null vector.
     */
    public static Column predict(Column features, Broadcast<Weights> weights, List<String> tags,
                                 List<Double> thresholds, int minTags, int maxTags, int top,
                                 boolean withProbabilities) {
        Decision decision = new Decision(weights, tags.toArray(new String[0]),
                thresholds.stream().mapToDouble(Double::doubleValue).toArray(), minTags, maxTags, top,
                withProbabilities);
        return functions.udf(decision, resultType(withProbabilities)).apply(features);
    }

    /**
     * Per tag, how many rows with and without the tag among their labels (an array of strings) have the tag's
     * probability in each of `buckets` equal buckets: bucket b holds [b / buckets, (b + 1) / buckets), the last also
     * 1. Threshold tuning and the evaluation report read these. The executors count them from the feature vectors
     * as they score, so no (rows x tags) probabilities leave the JVM: the driver receives 2 x tags x buckets counts,
     * little-endian int64 (first the rows with the tag: [0][tag][bucket], then those without). A row without a
     * feature vector has no prediction (see predict) and counts in no bucket.
     */
    public static byte[] histograms(Dataset<Row> rows, String featuresCol, String labelsCol,
                                    Broadcast<Weights> weights, List<String> tags, int buckets) {
        int numTags = tags.size();
        if (numTags != weights.value().numTags) {
            throw new IllegalArgumentException(numTags + " tags, " + weights.value().numTags
                    + " coefficients per feature");
        }
        HashMap<String, Integer> positions = new HashMap<>();
        for (int t = 0; t < numTags; t++) positions.putIfAbsent(tags.get(t), t);
        int cells = numTags * buckets;
        long[] counts = rows.select(featuresCol, labelsCol).javaRDD().mapPartitions(part -> {
            Weights local = weights.value();
            long[] counted = new long[2 * cells];
            boolean[] labelled = new boolean[numTags];
            while (part.hasNext()) {
                Row row = part.next();
                if (row.isNullAt(0)) continue;
                float[] probabilities = probabilities(local, row.getAs(0));
                List<String> labels = row.isNullAt(1) ? List.of() : row.getList(1);
                for (String label : labels) {
                    Integer t = positions.get(label);
                    if (t != null) labelled[t] = true;
                }
                for (int t = 0; t < numTags; t++) {
                    int bucket = Math.min((int) ((double) probabilities[t] * buckets), buckets - 1);
                    counted[(labelled[t] ? 0 : cells) + t * buckets + bucket]++;
                    labelled[t] = false;
                }
            }
            return Collections.singletonList(counted).iterator();
        }).fold(new long[2 * cells], (a, b) -> {  // fold, not reduce: a source of no partitions counts nothing
            for (int i = 0; i < a.length; i++) a[i] += b[i];
            return a;
        });
        ByteBuffer bytes = ByteBuffer.allocate(8 * counts.length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asLongBuffer().put(counts);
        return bytes.array();
    }

    static DataType resultType(boolean withProbabilities) {
        DataType pair = DataTypes.createStructType(new StructField[] {
            DataTypes.createStructField("tag", DataTypes.StringType, true),
            DataTypes.createStructField("probability", DataTypes.FloatType, true)});
        StructField predicted = DataTypes.createStructField("predicted",
                DataTypes.createArrayType(DataTypes.StringType, true), true);
        StructField scores = DataTypes.createStructField("scores", DataTypes.createArrayType(pair, true), true);
        StructField probabilities = DataTypes.createStructField("probabilities",
                DataTypes.createArrayType(DataTypes.FloatType, true), true);
        return DataTypes.createStructType(withProbabilities
                ? new StructField[] {predicted, scores, probabilities} : new StructField[] {predicted, scores});
    }

    /** The UDF: a model's broadcast weights with its tags and decision settings, shipped with the plan. */
    static final class Decision implements UDF1<Vector, Row> {
        private static final long serialVersionUID = 1L;
        private final Broadcast<Weights> weights;
        private final String[] tags;
        private final double[] thresholds;
        private final int minTags;
        private final int maxTags;
        private final int top;
        private final boolean withProbabilities;
        private transient Weights local;  // the broadcast's value in this task: Broadcast.value() locks on each call

        Decision(Broadcast<Weights> weights, String[] tags, double[] thresholds, int minTags, int maxTags, int top,
                 boolean withProbabilities) {
            if (tags.length != thresholds.length || tags.length != weights.value().numTags) {
                throw new IllegalArgumentException(tags.length + " tags, " + thresholds.length + " thresholds, "
                        + weights.value().numTags + " coefficients per feature");
            }
            this.weights = weights;
            this.tags = tags;
            this.thresholds = thresholds;
            this.minTags = Math.min(minTags, tags.length);
            this.maxTags = Math.min(maxTags, tags.length);
            this.top = Math.min(top, tags.length);
            this.withProbabilities = withProbabilities;
        }

        @Override
        public Row call(Vector features) {
            if (features == null) return null;
            if (local == null) local = weights.value();
            float[] probabilities = probabilities(local, features);
            int numTags = tags.length;
            // best first: the top `top` of all tags; the most probable passing and failing tags, maxTags of each
            int[] best = new int[top];
            int[] passing = new int[maxTags];
            int[] failing = new int[maxTags];
            int bestCount = 0;
            int passingCount = 0;
            int failingCount = 0;
            int passed = 0;
            for (int t = 0; t < numTags; t++) {
                bestCount = insert(best, bestCount, t, probabilities);
                if (probabilities[t] >= thresholds[t]) {
                    passed++;
                    passingCount = insert(passing, passingCount, t, probabilities);
                } else {
                    failingCount = insert(failing, failingCount, t, probabilities);
                }
            }
            int count = Math.min(Math.max(passed, minTags), maxTags);
            String[] predicted = new String[count];
            for (int i = 0; i < count; i++) {
                predicted[i] = tags[i < passingCount ? passing[i] : failing[i - passingCount]];
            }
            Row[] scores = new Row[bestCount];
            for (int i = 0; i < bestCount; i++) {
                scores[i] = RowFactory.create(tags[best[i]], probabilities[best[i]]);
            }
            if (!withProbabilities) return RowFactory.create(predicted, scores);
            Float[] boxed = new Float[numTags];
            for (int t = 0; t < numTags; t++) boxed[t] = probabilities[t];
            return RowFactory.create(predicted, scores, boxed);
        }
    }

    /** sigmoid(features · coefficients + intercepts), one per tag. */
    static float[] probabilities(Weights w, Vector features) {
        if (features.size() != w.numFeatures) {
            throw new IllegalArgumentException("a feature vector of size " + features.size() + ", the model has "
                    + w.numFeatures + " features");
        }
        int[] indices;
        double[] values;
        if (features instanceof SparseVector) {
            indices = ((SparseVector) features).indices();
            values = ((SparseVector) features).values();
        } else {
            double[] dense = features.toArray();
            int nonZeros = 0;
            for (double value : dense) if (value != 0) nonZeros++;
            indices = new int[nonZeros];
            values = new double[nonZeros];
            for (int j = 0, k = 0; j < dense.length; j++) {
                if (dense[j] != 0) {
                    indices[k] = j;
                    values[k++] = dense[j];
                }
            }
        }
        float[] margins = w.intercepts.clone();
        int k = 0;
        for (; k + 8 <= indices.length; k += 8) addScaled8(margins, w, indices, values, k);
        for (; k < indices.length; k++) addScaled(margins, w.coefficients, w.offsets[indices[k]], (float) values[k]);
        for (int t = 0; t < margins.length; t++) margins[t] = (float) (1.0 / (1.0 + Math.exp(-margins[t])));
        return margins;
    }

    /** margins += scale x one feature's coefficients; in float32, as the model was trained, so the JIT vectorises. */
    private static void addScaled(float[] margins, float[] coefficients, int offset, float scale) {
        for (int t = 0; t < margins.length; t++) margins[t] += scale * coefficients[offset + t];
    }

    /**
     * addScaled for the eight features from k on, in one loop: their coefficients lie in eight far-apart places of a
     * large array, mostly out of cache, and loaded side by side their cache misses overlap instead of queueing
     * (docs/performance.md).
     */
    private static void addScaled8(float[] margins, Weights w, int[] indices, double[] values, int k) {
        float[] c = w.coefficients;
        int[] o = w.offsets;
        int o0 = o[indices[k]], o1 = o[indices[k + 1]], o2 = o[indices[k + 2]], o3 = o[indices[k + 3]];
        int o4 = o[indices[k + 4]], o5 = o[indices[k + 5]], o6 = o[indices[k + 6]], o7 = o[indices[k + 7]];
        float s0 = (float) values[k], s1 = (float) values[k + 1], s2 = (float) values[k + 2];
        float s3 = (float) values[k + 3], s4 = (float) values[k + 4], s5 = (float) values[k + 5];
        float s6 = (float) values[k + 6], s7 = (float) values[k + 7];
        for (int t = 0; t < margins.length; t++) {
            margins[t] += s0 * c[o0 + t] + s1 * c[o1 + t] + s2 * c[o2 + t] + s3 * c[o3 + t]
                    + s4 * c[o4 + t] + s5 * c[o5 + t] + s6 * c[o6 + t] + s7 * c[o7 + t];
        }
    }

    /**
     * Offers tag t to ranked[0, count), kept most probable first with at most ranked.length entries; returns the new
     * count. Tags come in order, so an equal probability ranks after the tags already there.
     */
    static int insert(int[] ranked, int count, int t, float[] probabilities) {
        float p = probabilities[t];
        if (count == ranked.length && (count == 0 || probabilities[ranked[count - 1]] >= p)) return count;
        int i = Math.min(count, ranked.length - 1);
        while (i > 0 && probabilities[ranked[i - 1]] < p) {
            ranked[i] = ranked[i - 1];
            i--;
        }
        ranked[i] = t;
        return Math.min(count + 1, ranked.length);
    }
}
