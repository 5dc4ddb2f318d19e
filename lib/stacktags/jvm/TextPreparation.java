package stacktags;

import java.io.IOException;
import java.io.Serializable;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;

import org.apache.commons.text.StringEscapeUtils;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.types.DataTypes;

/**
 * The text preparation of stacktags (lib/stacktags/text.py), as hand-written scanners run by Spark as Java UDFs.
 *
 * <p>Each function is one left-to-right pass over the text. They give what these Java regexes give with
 * find()/replaceAll (see text.py for why each part is there):
 * <pre>
 *   prose   (?is)&lt;(?:SKIPPED|CODE_BLOCK|TAG)  -> " ", then HTML entities decoded, then [\s\u00a0]+ -> " ", trimmed
 *   code    group 2 of each (?is)&lt;(?:SKIPPED|CODE_BLOCK) match, the non-empty ones joined by "\n", then
 *           (?is)&lt;(?:TAG) -> " ", entities decoded, trimmed of spaces
 *   tokens  \.?[\p{L}\p{N}][\p{L}\p{N}+#]*(?:[.\-_'][\p{L}\p{N}+#]+)*  over the text lowercased by Java's
 *           String.toLowerCase (ΟΔΟΣ -> οδος, with a final sigma, where Spark's lower() gives οδοσ), minus stop words
 *
 *   SKIPPED     script\b.*?(?:&lt;/script\s*>|$) | style\b.*?(?:&lt;/style\s*>|$) | !--.*?(?:-->|$)
 *   CODE_BLOCK  (pre|code)\b[^>]*>(.*?)(?:&lt;/\1\s*>|$)
 *   TAG         /?[a-zA-Z][^>]*(?:>|$) | ![^>]*(?:>|$)
 * </pre>
 * As in Java's regexes, {@code $} also matches before a line terminator that ends the text, so an unclosed block
 * ends there. tests/test_text.py holds the cases.
 */
public final class TextPreparation {
    private TextPreparation() {}

    /** Registers prose and code as stacktags_prose(body) and stacktags_code(body) in the session. */
    public static void register(SparkSession spark) {
        spark.udf().register("stacktags_prose", (UDF1<String, String>) TextPreparation::prose, DataTypes.StringType);
        spark.udf().register("stacktags_code", (UDF1<String, String>) TextPreparation::code, DataTypes.StringType);
    }

    /** Registers name(text) -> the tokens of text minus stopWords (lowercase). */
    public static void registerTokens(SparkSession spark, String name, List<String> stopWords) {
        spark.udf().register(name, new Tokens(stopWords), DataTypes.createArrayType(DataTypes.StringType, true));
    }

    /** A tokenizer with its stop words, shipped to the executors with the plan. */
    static final class Tokens implements UDF1<String, String[]> {
        private static final long serialVersionUID = 1L;
        private final StopWords stopWords;

        Tokens(List<String> stopWords) {
            this.stopWords = new StopWords(stopWords);
        }

        @Override
        public String[] call(String text) {
            return tokens(text, stopWords);
        }
    }

    /**
     * A set of words that a token is looked up in where it lies in the text: no substring made and hashed for a
     * token that is then dropped. Open addressing, at most a quarter full.
     */
    public static final class StopWords implements Serializable {
        private static final long serialVersionUID = 1L;
        private final String[] slots;
        private final int longest;

        public StopWords(Collection<String> words) {
            slots = new String[Integer.highestOneBit(Math.max(words.size(), 1) * 4) * 2];
            int length = 0;
            for (String word : new LinkedHashSet<>(words)) {
                int i = slot(word.hashCode());
                while (slots[i] != null) i = (i + 1) & (slots.length - 1);
                slots[i] = word;
                length = Math.max(length, word.length());
            }
            longest = length;
        }

        /** Whether text[start, end) is one of the words. */
        public boolean contains(char[] text, int start, int end) {
            int length = end - start;
            if (length > longest) return false;  // also every token when there are no words
            int hash = 0;
            for (int i = start; i < end; i++) hash = 31 * hash + text[i];  // String.hashCode of the range
            for (int i = slot(hash); slots[i] != null; i = (i + 1) & (slots.length - 1)) {
                if (equal(slots[i], text, start, length)) return true;
            }
            return false;
        }

        private static boolean equal(String word, char[] text, int start, int length) {
            if (word.length() != length) return false;
            for (int k = 0; k < length; k++) {
                if (word.charAt(k) != text[start + k]) return false;
            }
            return true;
        }

        private int slot(int hash) {
            return (hash ^ (hash >>> 16)) & (slots.length - 1);
        }
    }

    // ---- prose and code ----

    /** The prose of an HTML body: tags, code blocks, scripts, styles and comments out; entities decoded. */
    public static String prose(String html) {
        if (html == null) return "";
        int n = html.length();
        int eoi = endOfInput(html);
        StringBuilder out = new StringBuilder(n);
        int i = 0;
        while (i < n) {
            char c = html.charAt(i);
            int end = c == '<' ? notProseEnd(html, i, eoi) : -1;
            if (end < 0) {
                out.append(c);
                i++;
            } else {
                out.append(' ');
                i = end;
            }
        }
        return squeeze(decodeEntities(out.toString()));
    }

    /** The contents of the &lt;pre&gt; and &lt;code&gt; blocks in document order, one per line. */
    public static String code(String html) {
        if (html == null) return "";
        int n = html.length();
        int eoi = endOfInput(html);
        StringBuilder blocks = new StringBuilder();
        int[] content = new int[2];
        int i = html.indexOf('<');
        while (i >= 0 && i < n) {
            int end = skippedEnd(html, i, eoi);
            if (end < 0) {
                end = codeBlockEnd(html, i, eoi, content);
                if (end >= 0 && content[1] > content[0]) {
                    if (blocks.length() > 0) blocks.append('\n');
                    blocks.append(html, content[0], content[1]);
                }
            }
            // find() goes on after a match, or one character on when there was none (a tag is not skipped here)
            i = html.indexOf('<', end >= 0 ? end : i + 1);
        }
        if (blocks.length() == 0) return "";
        return trimSpaces(decodeEntities(stripTags(blocks.toString())));
    }

    /** Where the match of &lt;(?:SKIPPED|CODE_BLOCK|TAG) at i ends, or -1 when there is none (a lone &lt;). */
    private static int notProseEnd(String s, int i, int eoi) {
        int end = skippedEnd(s, i, eoi);
        if (end < 0) end = codeBlockEnd(s, i, eoi, null);
        if (end < 0) end = tagEnd(s, i);
        return end;
    }

    /** SKIPPED at the &lt; at i: a script, a style or a comment, to its end (or to the end of the text). */
    private static int skippedEnd(String s, int i, int eoi) {
        int from = i + 1;
        if (startsWithWord(s, from, "script")) return closingEnd(s, from + 6, "script", eoi)[1];
        if (startsWithWord(s, from, "style")) return closingEnd(s, from + 5, "style", eoi)[1];
        if (s.startsWith("!--", from)) {
            int close = s.indexOf("-->", from + 3);
            return close >= 0 && close < eoi ? close + 3 : eoi;
        }
        return -1;
    }

    /** CODE_BLOCK at the &lt; at i: its end, and its contents' bounds into content (when given); -1 when none. */
    private static int codeBlockEnd(String s, int i, int eoi, int[] content) {
        int from = i + 1;
        String name = startsWithWord(s, from, "pre") ? "pre" : startsWithWord(s, from, "code") ? "code" : null;
        if (name == null) return -1;
        int gt = s.indexOf('>', from + name.length());
        if (gt < 0) return -1;
        int[] close = closingEnd(s, gt + 1, name, eoi);
        if (content != null) {
            content[0] = gt + 1;
            content[1] = close[0];
        }
        return close[1];
    }

    /**
     * .*?(?:&lt;/name\s*>|$) from `from`: {where the contents end, where the match ends}. Without a closing tag the
     * contents run to the end of the input as $ sees it (eoi) and the match ends there too.
     */
    private static int[] closingEnd(String s, int from, String name, int eoi) {
        int lt = s.indexOf("</", from);
        while (lt >= 0 && lt < eoi) {
            if (startsWithIgnoringCase(s, lt + 2, name)) {
                int j = lt + 2 + name.length();
                while (j < s.length() && isRegexSpace(s.charAt(j))) j++;
                if (j < s.length() && s.charAt(j) == '>') return new int[] {lt, j + 1};
            }
            lt = s.indexOf("</", lt + 1);
        }
        return new int[] {eoi, eoi};
    }

    /** TAG at the &lt; at i: /?[a-zA-Z][^>]*(?:>|$) or ![^>]*(?:>|$); -1 when neither. */
    private static int tagEnd(String s, int i) {
        int j = i + 1;
        if (j < s.length() && s.charAt(j) == '/') j++;
        boolean tag = j < s.length() && isAsciiLetter(s.charAt(j));
        if (!tag) {
            j = i + 1;
            tag = j < s.length() && s.charAt(j) == '!';
        }
        if (!tag) return -1;
        int gt = s.indexOf('>', j + 1);
        return gt < 0 ? s.length() : gt + 1;
    }

    /** (?is)&lt;(?:TAG) -> " " */
    static String stripTags(String s) {
        int lt = s.indexOf('<');
        if (lt < 0) return s;
        StringBuilder out = new StringBuilder(s.length());
        int copied = 0;
        while (lt >= 0) {
            int end = tagEnd(s, lt);
            if (end >= 0) {
                out.append(s, copied, lt).append(' ');
                copied = end;
            }
            lt = s.indexOf('<', end >= 0 ? end : lt + 1);
        }
        return out.append(s, copied, s.length()).toString();
    }

    /** s holds the lowercase ASCII word at i, in any case (as (?i) without UNICODE_CASE: ASCII letters only). */
    private static boolean startsWithIgnoringCase(String s, int i, String word) {
        if (i + word.length() > s.length()) return false;
        for (int k = 0; k < word.length(); k++) {
            if ((s.charAt(i + k) | 0x20) != word.charAt(k)) return false;
        }
        return true;
    }

    /** s starts with word (ignoring case) at i, and \b holds after it. */
    private static boolean startsWithWord(String s, int i, String word) {
        if (!startsWithIgnoringCase(s, i, word)) return false;
        int j = i + word.length();
        if (j >= s.length()) return true;
        int cp = s.codePointAt(j);
        return !(cp == '_' || Character.isLetterOrDigit(cp) || Character.getType(cp) == Character.NON_SPACING_MARK);
    }

    /** Where a non-MULTILINE $ first matches: before a line terminator that ends the text, else at its end. */
    private static int endOfInput(String s) {
        int n = s.length();
        if (n >= 2 && s.charAt(n - 2) == '\r' && s.charAt(n - 1) == '\n') return n - 2;
        if (n >= 1) {
            char last = s.charAt(n - 1);
            if (last == '\n' || last == '\r' || last == '\u0085' || last == '\u2028' || last == '\u2029') return n - 1;
        }
        return n;
    }

    private static String decodeEntities(String s) {
        int amp = s.indexOf('&');
        if (amp < 0) return s;
        // StringEscapeUtils.unescapeHtml4(s), offered only the '&'s: every entity it decodes starts with one, and its
        // own loop tries all its translators (boxing each char for a set lookup) at every char of the text.
        StringWriter out = new StringWriter(s.length());
        int copied = 0;
        try {
            while (amp >= 0) {
                out.write(s, copied, amp - copied);
                int consumed = StringEscapeUtils.UNESCAPE_HTML4.translate(s, amp, out);  // in code points
                copied = amp;
                if (consumed == 0) {
                    out.write('&');
                    copied++;
                }
                for (int k = 0; k < consumed; k++) copied += Character.charCount(s.codePointAt(copied));
                amp = s.indexOf('&', copied);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);  // a StringWriter does not throw
        }
        out.write(s, copied, s.length() - copied);
        return out.toString();
    }

    /** [\s\u00a0]+ -> " ", then leading and trailing spaces trimmed. */
    private static String squeeze(String s) {
        char[] in = s.toCharArray();
        char[] out = new char[in.length];  // written in place, not appended char by char to a StringBuilder
        int length = 0;
        boolean space = false;
        for (char c : in) {
            if (isRegexSpace(c) || c == '\u00a0') {
                space = true;
            } else {
                if (space && length > 0) out[length++] = ' ';
                space = false;
                out[length++] = c;
            }
        }
        return new String(out, 0, length);
    }

    /** Spark's trim(): leading and trailing U+0020 only. */
    private static String trimSpaces(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && s.charAt(start) == ' ') start++;
        while (end > start && s.charAt(end - 1) == ' ') end--;
        return s.substring(start, end);
    }

    /** Java regex \s without UNICODE_CHARACTER_CLASS: [ \t\n\x0B\f\r] */
    private static boolean isRegexSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    private static boolean isAsciiLetter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    // ---- tokens ----

    /** The tokens of the lowercased text, stop words left out; null text has none. */
    public static String[] tokens(String text, StopWords stopWords) {
        if (text == null || text.isEmpty()) return new String[0];
        char[] s = text.toLowerCase(Locale.ROOT).toCharArray();  // scanned as an array: no String call per char
        int n = s.length;
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < n) {
            int start = i;
            int j = s[i] == '.' ? i + 1 : i;  // \.? : a dot is kept only when a letter or digit follows
            int first = j < n ? letterOrDigitLength(s, j) : 0;
            if (first == 0) {
                i += Character.isHighSurrogate(s[i]) ? Character.charCount(Character.codePointAt(s, i)) : 1;
                continue;
            }
            j = wordEnd(s, j + first);
            // (?:[.\-_'][\p{L}\p{N}+#]+)*
            while (j + 1 < n && isJoiner(s[j]) && wordCharLength(s, j + 1) > 0) {
                j = wordEnd(s, j + 1);
            }
            if (!stopWords.contains(s, start, j)) out.add(new String(s, start, j - start));
            i = j;
        }
        return out.toArray(new String[0]);
    }

    private static boolean isJoiner(char c) {
        return c == '.' || c == '-' || c == '_' || c == '\'';
    }

    /** The end of the run of [\p{L}\p{N}+#] from i. */
    private static int wordEnd(char[] s, int i) {
        int len;
        while (i < s.length && (len = wordCharLength(s, i)) > 0) i += len;
        return i;
    }

    /** The chars of the [\p{L}\p{N}+#] code point at i, or 0 when it is not one. */
    private static int wordCharLength(char[] s, int i) {
        char c = s[i];
        return c == '+' || c == '#' ? 1 : letterOrDigitLength(s, i);
    }

    /** The chars of the [\p{L}\p{N}] code point at i, or 0 when it is not one. */
    private static int letterOrDigitLength(char[] s, int i) {
        char c = s[i];
        if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ? 1 : 0;
        int cp = Character.codePointAt(s, i);
        return isLetterOrNumber(cp) ? Character.charCount(cp) : 0;
    }

    /** \p{L} or \p{N}: the Unicode letter and number categories. */
    private static boolean isLetterOrNumber(int cp) {
        switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER: case Character.LOWERCASE_LETTER: case Character.TITLECASE_LETTER:
            case Character.MODIFIER_LETTER: case Character.OTHER_LETTER:
            case Character.DECIMAL_DIGIT_NUMBER: case Character.LETTER_NUMBER: case Character.OTHER_NUMBER:
                return true;
            default:
                return false;
        }
    }
}
