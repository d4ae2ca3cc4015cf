"""Time-series forecasting: a recurrent forecaster vs last-value, seasonal-naive and ARIMA baselines."""
