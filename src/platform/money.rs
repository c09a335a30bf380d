//! Money: an amount in a currency's minor units (cents for USD, yen for
//! JPY, fils for KWD) as an `i64`, never a float, with its ISO 4217
//! [`Currency`]. How many minor units make a major one (the exponent: JPY
//! 0, USD 2, KWD 3) comes from the ISO 4217 table of the `iso_currency`
//! crate. Stored as two columns, `amount_minor` (`INTEGER`/`BIGINT`) and
//! `currency` (`TEXT`, the code); a [`Currency`] binds and decodes as its
//! code, so a row struct holds `amount_minor: i64, currency: Currency` and
//! [`Money::new`] joins them.
//!
//! Typed amounts are parsed at the edge by [`Money::parse`] (see there for
//! the rules); sums of different currencies are refused
//! ([`Money::checked_add`]), never converted.

use std::{fmt, str::FromStr};

/// A currency money can be counted in: an ISO 4217 code with a minor unit
/// (funds, precious metals, testing codes and superseded currencies are
/// refused). Stored and shown as its code (`USD`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// United States dollar, the default of an organization.
    pub const USD: Currency = Currency(iso_currency::Currency::USD);
    pub const EUR: Currency = Currency(iso_currency::Currency::EUR);
    pub const JPY: Currency = Currency(iso_currency::Currency::JPY);
    pub const KWD: Currency = Currency(iso_currency::Currency::KWD);

    /// The code, as stored: `USD`.
    pub fn as_str(self) -> &'static str {
        self.0.code()
    }

    /// The currency's English name: `United States dollar`.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Digits after the decimal mark: how many powers of ten a major unit
    /// holds in minor units (JPY 0, USD 2, KWD 3).
    pub fn exponent(self) -> u32 {
        // Every `Currency` was checked to have one when it was made.
        self.0.exponent().map_or(0, u32::from)
    }

    /// A code typed by a person: spaces around it and lower case are
    /// forgiven (`" eur"` is EUR); anything else is [`MoneyError::UnknownCurrency`].
    pub fn parse_input(text: &str) -> Result<Currency, MoneyError> {
        text.trim().to_ascii_uppercase().parse()
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    /// The stored code, exactly (`USD`, not `usd`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        iso_currency::Currency::from_code(s)
            .filter(|c| {
                c.exponent().is_some()
                    && !c.is_fund()
                    && !c.is_special()
                    && c.is_superseded().is_none()
            })
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(s.chars().take(12).collect()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::stored_as_text!(Currency);

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

/// Why an amount or a currency was refused; the message is for the person
/// who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("Enter an amount.")]
    Empty,
    #[error("Enter an amount in digits, like 12.50 (no currency sign, no thousands separators).")]
    NotANumber,
    #[error("{currency} has no minor unit: enter a whole amount (no thousands separators).")]
    NoMinorUnit { currency: Currency },
    #[error(
        "{currency} has {exponent} digits after the decimal mark at most (no thousands separators)."
    )]
    TooManyDecimals { currency: Currency, exponent: u32 },
    #[error("The amount cannot be negative.")]
    Negative,
    #[error("That amount is too large.")]
    TooLarge,
    #[error("Amounts in {0} and {1} cannot be added together.")]
    MixedCurrencies(Currency, Currency),
    #[error("Not a currency code Rally knows: {0:?} (use a three-letter ISO 4217 code, like USD).")]
    UnknownCurrency(String),
}

/// An amount of money: `minor` units of `currency`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub struct Money {
    /// In the currency's minor units (cents for USD).
    amount_minor: i64,
    currency: Currency,
}

impl Money {
    /// `amount_minor` minor units of `currency` (1250 USD is $12.50).
    pub const fn new(amount_minor: i64, currency: Currency) -> Money {
        Money {
            amount_minor,
            currency,
        }
    }

    /// Nothing, in `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money::new(0, currency)
    }

    /// The amount in minor units (the `amount_minor` column).
    pub fn amount_minor(self) -> i64 {
        self.amount_minor
    }

    /// The currency (the `currency` column).
    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn is_negative(self) -> bool {
        self.amount_minor < 0
    }

    /// An amount a person typed, in `currency`; never negative (prices,
    /// rewards). The rules:
    /// - digits, with at most one decimal mark, `.` or `,` (`12.50` and
    ///   `12,50` are the same); spaces around are ignored;
    /// - no thousands separators, currency signs, exponents or spaces
    ///   inside (`1,000.00` and `$5` are refused: a grouping mark cannot be
    ///   told from a decimal one, and a guess would be wrong by a factor of
    ///   a thousand);
    /// - at most the currency's digits after the mark (`12.505` USD,
    ///   `5.5` JPY are refused, never rounded); fewer are padded (`12.5` is
    ///   1250 cents); a mark must have digits on both sides (`.5`, `12.`
    ///   are refused);
    /// - at most `i64::MAX` minor units.
    ///
    /// Use [`Money::parse_signed`] where a negative amount makes sense (a
    /// correction).
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let money = Money::parse_signed(text, currency)?;
        if money.is_negative() {
            return Err(MoneyError::Negative);
        }
        Ok(money)
    }

    /// Like [`Money::parse`], with an optional leading `-`.
    pub fn parse_signed(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match digits.find(['.', ',']) {
            Some(at) => (&digits[..at], Some(&digits[at + 1..])),
            None => (digits, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
            return Err(MoneyError::NotANumber);
        }
        let exponent = currency.exponent();
        let fraction = fraction.unwrap_or("");
        if fraction.len() > exponent as usize {
            return Err(if exponent == 0 {
                MoneyError::NoMinorUnit { currency }
            } else {
                MoneyError::TooManyDecimals { currency, exponent }
            });
        }
        // Accumulated negatively, so that i64::MIN's digits fit too.
        let mut minor: i64 = 0;
        let padded = fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(exponent as usize);
        for digit in whole.bytes().chain(padded) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_sub(i64::from(digit - b'0')))
                .ok_or(MoneyError::TooLarge)?;
        }
        let minor = if negative {
            minor
        } else {
            minor.checked_neg().ok_or(MoneyError::TooLarge)?
        };
        Ok(Money::new(minor, currency))
    }

    /// The sum, in the same currency; refused for two currencies (no
    /// conversion happens here) or past `i64`'s range.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|m| Money::new(m, self.currency))
            .ok_or(MoneyError::TooLarge)
    }

    /// The difference, in the same currency; as [`Money::checked_add`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount_minor
            .checked_sub(other.amount_minor)
            .map(|m| Money::new(m, self.currency))
            .ok_or(MoneyError::TooLarge)
    }

    /// `times` this amount (a quantity); refused past `i64`'s range.
    pub fn checked_mul(self, times: i64) -> Result<Money, MoneyError> {
        self.amount_minor
            .checked_mul(times)
            .map(|m| Money::new(m, self.currency))
            .ok_or(MoneyError::TooLarge)
    }

    /// The total of `amounts`, all in `currency` (zero for none).
    pub fn sum(
        currency: Currency,
        amounts: impl IntoIterator<Item = Money>,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::MixedCurrencies(self.currency, other.currency))
        }
    }

    /// The amount alone, with the currency's digits after a `.`: `12.50`,
    /// `-0.05`, `1000` (JPY), `1.250` (KWD). What an input field shows, and
    /// what [`Money::parse_signed`] reads back.
    pub fn amount_text(self) -> String {
        let exponent = self.currency.exponent();
        let sign = if self.is_negative() { "-" } else { "" };
        let minor = self.amount_minor.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{minor}");
        }
        let unit = 10u64.pow(exponent);
        format!(
            "{sign}{}.{:0width$}",
            minor / unit,
            minor % unit,
            width = exponent as usize
        )
    }
}

impl fmt::Display for Money {
    /// `12.50 USD`, `1000 JPY`, `-1.250 KWD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_text(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::{Currency, Money, MoneyError};

    const USD: Currency = Currency::USD;

    #[test]
    fn exponents_come_from_the_table() {
        assert_eq!(Currency::JPY.exponent(), 0);
        assert_eq!(USD.exponent(), 2);
        assert_eq!(Currency::KWD.exponent(), 3);
        assert_eq!("CLP".parse::<Currency>().unwrap().exponent(), 0);
        assert_eq!(USD.name(), "United States dollar");
    }

    #[test]
    fn currency_codes_parse_strictly_when_stored_and_kindly_when_typed() {
        assert_eq!("EUR".parse::<Currency>(), Ok(Currency::EUR));
        for bad in [
            "", "usd", "US", "USDX", "XAU", "XXX", "XTS", "CLF", "€", "USD ",
        ] {
            assert!(bad.parse::<Currency>().is_err(), "{bad:?}");
        }
        assert_eq!(Currency::parse_input(" eur "), Ok(Currency::EUR));
        assert!(matches!(
            Currency::parse_input("dollars"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert_eq!(USD.to_string(), "USD");
        let json = serde_json::to_string(&Money::new(1250, USD)).unwrap();
        assert_eq!(json, r#"{"amount_minor":1250,"currency":"USD"}"#);
        assert_eq!(
            serde_json::from_str::<Money>(&json).unwrap(),
            Money::new(1250, USD)
        );
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1,"currency":"XAU"}"#).is_err());
    }

    #[test]
    fn typed_amounts_parse_by_the_currency_exponent() {
        let ok = [
            ("12.50", USD, 1250),
            ("12,50", USD, 1250),
            (" 12.5 ", USD, 1250),
            ("12", USD, 1200),
            ("0.05", USD, 5),
            ("007", USD, 700),
            ("1000", Currency::JPY, 1000),
            ("1.250", Currency::KWD, 1250),
            ("1,2", Currency::KWD, 1200),
            ("92233720368547758.07", USD, i64::MAX),
        ];
        for (text, currency, minor) in ok {
            assert_eq!(
                Money::parse(text, currency),
                Ok(Money::new(minor, currency)),
                "{text:?}"
            );
        }
        let refused = [
            ("", USD, MoneyError::Empty),
            ("  ", USD, MoneyError::Empty),
            (
                "12.505",
                USD,
                MoneyError::TooManyDecimals {
                    currency: USD,
                    exponent: 2,
                },
            ),
            ("1,000.00", USD, MoneyError::NotANumber),
            (
                "1,000",
                USD,
                MoneyError::TooManyDecimals {
                    currency: USD,
                    exponent: 2,
                },
            ),
            (
                "5.5",
                Currency::JPY,
                MoneyError::NoMinorUnit {
                    currency: Currency::JPY,
                },
            ),
            (
                "1.2345",
                Currency::KWD,
                MoneyError::TooManyDecimals {
                    currency: Currency::KWD,
                    exponent: 3,
                },
            ),
            ("-1", USD, MoneyError::Negative),
            ("-0.01", USD, MoneyError::Negative),
            ("$5", USD, MoneyError::NotANumber),
            ("5 USD", USD, MoneyError::NotANumber),
            ("1 000", USD, MoneyError::NotANumber),
            (".5", USD, MoneyError::NotANumber),
            ("12.", USD, MoneyError::NotANumber),
            ("+5", USD, MoneyError::NotANumber),
            ("--5", USD, MoneyError::NotANumber),
            ("1e3", USD, MoneyError::NotANumber),
            ("١٢", USD, MoneyError::NotANumber),
            ("92233720368547758.08", USD, MoneyError::TooLarge),
            (
                "99999999999999999999999",
                Currency::JPY,
                MoneyError::TooLarge,
            ),
        ];
        for (text, currency, error) in refused {
            assert_eq!(Money::parse(text, currency), Err(error), "{text:?}");
        }
    }

    #[test]
    fn signed_amounts_reach_both_ends_of_the_range() {
        assert_eq!(
            Money::parse_signed("-12,50", USD),
            Ok(Money::new(-1250, USD))
        );
        assert_eq!(Money::parse_signed("-0", USD), Ok(Money::zero(USD)));
        assert_eq!(
            Money::parse_signed("-92233720368547758.08", USD),
            Ok(Money::new(i64::MIN, USD))
        );
        assert_eq!(
            Money::parse_signed("-92233720368547758.09", USD),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn amounts_show_with_the_currency_digits_and_read_back() {
        let shown = [
            (Money::new(1250, USD), "12.50 USD"),
            (Money::new(5, USD), "0.05 USD"),
            (Money::new(-5, USD), "-0.05 USD"),
            (Money::new(0, USD), "0.00 USD"),
            (Money::new(1000, Currency::JPY), "1000 JPY"),
            (Money::new(-1250, Currency::KWD), "-1.250 KWD"),
            (Money::new(i64::MIN, USD), "-92233720368547758.08 USD"),
            (
                Money::new(i64::MAX, Currency::KWD),
                "9223372036854775.807 KWD",
            ),
        ];
        for (money, text) in shown {
            assert_eq!(money.to_string(), text);
            assert_eq!(
                Money::parse_signed(&money.amount_text(), money.currency()),
                Ok(money)
            );
        }
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies_and_overflow() {
        let a = Money::new(1250, USD);
        assert_eq!(
            a.checked_add(Money::new(50, USD)),
            Ok(Money::new(1300, USD))
        );
        assert_eq!(
            a.checked_sub(Money::new(1300, USD)),
            Ok(Money::new(-50, USD))
        );
        assert_eq!(a.checked_mul(3), Ok(Money::new(3750, USD)));
        assert_eq!(
            a.checked_add(Money::new(1, Currency::EUR)),
            Err(MoneyError::MixedCurrencies(USD, Currency::EUR))
        );
        assert_eq!(
            a.checked_sub(Money::new(1, Currency::JPY)),
            Err(MoneyError::MixedCurrencies(USD, Currency::JPY))
        );
        assert_eq!(
            Money::new(i64::MAX, USD).checked_add(Money::new(1, USD)),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::new(i64::MIN, USD).checked_sub(Money::new(1, USD)),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::new(i64::MAX, USD).checked_mul(2),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::sum(USD, [a, a, Money::new(-500, USD)]),
            Ok(Money::new(2000, USD))
        );
        assert_eq!(Money::sum(USD, []), Ok(Money::zero(USD)));
        assert_eq!(
            Money::sum(USD, [a, Money::new(1, Currency::EUR)]),
            Err(MoneyError::MixedCurrencies(USD, Currency::EUR))
        );
    }
}
