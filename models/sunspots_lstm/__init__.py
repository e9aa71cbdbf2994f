"""An LSTM that forecasts next year's sunspot number from the previous 20 (statsmodels' yearly sunspots, 1700-2008)."""
