package stacktags;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.api.java.UDF3;
import org.apache.spark.sql.functions;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.hash.Murmur3_x86_32;

import scala.collection.Seq;

/**
 * MLlib's HashingTF of a question's bag of terms (lib/stacktags/features.py, QuestionHashingTF), run by Spark as a
 * Java UDF over its title, body and code tokens.
 *
 * <p>The terms: each title token titleWeight times, then the body and code tokens (one text), then, with bigrams,
 * the adjacent pairs "a b" of the title and of the body (never across the two). With distinct, the title's tokens,
 * the text's tokens, the title's bigrams and the body's bigrams each count once per part. Each term goes to bucket
 * murmur3_x86_32(its UTF-8 bytes, seed 42) mod numFeatures and the vector holds each bucket's count: MLlib's
 * HashingTF of those terms, to the bit (tests/test_features.py), in one UDF instead of Spark's array functions and
 * HashingTF's Scala collections. A null token array counts as empty, and null tokens are skipped.
 */
public final class QuestionHashingTF {
    private QuestionHashingTF() {}

    private static final int SEED = 42;  // MLlib's HashingTF's

    /** The counts as an ML vector column of size numFeatures. */
    public static Column counts(Column title, Column body, Column code, int titleWeight, boolean bigrams,
                                boolean distinct, int numFeatures) {
        if (titleWeight < 0 || numFeatures <= 0) {
            throw new IllegalArgumentException("titleWeight " + titleWeight + " and numFeatures " + numFeatures
                    + ": the weight cannot be negative, and there must be a feature");
        }
        return functions.udf(new Counter(titleWeight, bigrams, distinct, numFeatures), SQLDataTypes.VectorType())
                .apply(title, body, code);
    }

    static final class Counter implements UDF3<Seq<String>, Seq<String>, Seq<String>, Vector> {
        private static final long serialVersionUID = 1L;
        private final int titleWeight;
        private final boolean bigrams;
        private final boolean distinct;
        private final int numFeatures;

        Counter(int titleWeight, boolean bigrams, boolean distinct, int numFeatures) {
            this.titleWeight = titleWeight;
            this.bigrams = bigrams;
            this.distinct = distinct;
            this.numFeatures = numFeatures;
        }

        @Override
        public Vector call(Seq<String> title, Seq<String> body, Seq<String> code) {
            String[] titleTokens = tokens(title);
            String[] bodyTokens = tokens(body);
            String[] codeTokens = tokens(code);
            Buckets buckets = new Buckets(titleTokens.length * 2 + bodyTokens.length * 2 + codeTokens.length);
            add(buckets, Arrays.asList(titleTokens), titleWeight);
            String[] text = Arrays.copyOf(bodyTokens, bodyTokens.length + codeTokens.length);
            System.arraycopy(codeTokens, 0, text, bodyTokens.length, codeTokens.length);
            add(buckets, Arrays.asList(text), 1);
            if (bigrams) {
                add(buckets, Arrays.asList(pairs(titleTokens)), 1);
                add(buckets, Arrays.asList(pairs(bodyTokens)), 1);
            }
            return buckets.vector(numFeatures);
        }

        private void add(Buckets buckets, Iterable<String> terms, int weight) {
            if (weight == 0) return;
            Set<String> seen = distinct ? new HashSet<>() : null;
            for (String term : terms) {
                if (seen == null || seen.add(term)) buckets.add(bucket(term, numFeatures), weight);
            }
        }
    }

    /** The non-null tokens of a token array; none for null. */
    static String[] tokens(Seq<String> seq) {
        if (seq == null) return new String[0];
        String[] tokens = new String[seq.length()];
        int count = 0;
        for (int i = 0; i < tokens.length; i++) {
            String token = seq.apply(i);
            if (token != null) tokens[count++] = token;
        }
        return count == tokens.length ? tokens : Arrays.copyOf(tokens, count);
    }

    /** "a b" for each adjacent pair a, b. */
    static String[] pairs(String[] tokens) {
        String[] pairs = new String[Math.max(tokens.length - 1, 0)];
        for (int i = 0; i < pairs.length; i++) pairs[i] = tokens[i] + " " + tokens[i + 1];
        return pairs;
    }

    /** HashingTF's bucket of a term: murmur3_x86_32 of its UTF-8 bytes, seed 42, modulo numFeatures, non-negative. */
    static int bucket(String term, int numFeatures) {
        byte[] utf8 = term.getBytes(StandardCharsets.UTF_8);
        int hash = Murmur3_x86_32.hashUnsafeBytes2(utf8, Platform.BYTE_ARRAY_OFFSET, utf8.length, SEED);
        int mod = hash % numFeatures;
        return mod < 0 ? mod + numFeatures : mod;
    }

    /** (bucket, weight) entries, summed per bucket into a sparse vector. */
    static final class Buckets {
        private long[] entries;  // bucket << 32 | weight: sorting them sorts by bucket
        private int size;

        Buckets(int capacity) {
            entries = new long[Math.max(capacity, 8)];
        }

        void add(int bucket, int weight) {
            if (size == entries.length) entries = Arrays.copyOf(entries, size * 2);
            entries[size++] = ((long) bucket << 32) | weight;
        }

        SparseVector vector(int numFeatures) {
            Arrays.sort(entries, 0, size);
            int[] indices = new int[size];
            double[] values = new double[size];
            int count = -1;
            int last = -1;
            for (int i = 0; i < size; i++) {
                int bucket = (int) (entries[i] >>> 32);
                if (bucket != last) {
                    indices[++count] = bucket;
                    last = bucket;
                }
                values[count] += (int) entries[i];
            }
            return new SparseVector(numFeatures, Arrays.copyOf(indices, count + 1), Arrays.copyOf(values, count + 1));
        }
    }
}
